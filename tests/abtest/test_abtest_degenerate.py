"""Degenerate data gives a clear message in the report, never a NaN verdict or a traceback;
the `ecom abtest` command end to end through typer; and readout.json's versioning."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.abtest import ReadoutConfig, build_readout, run_abtest
from pipeline.abtest.document import REQUIRED, read_readout
from pipeline.abtest.queries import ExperimentStats, ReadoutData, WeeklyCounts
from pipeline.abtest.report import markdown
from pipeline.cli import app
from pipeline.errors import InputError
from pipeline.experiment.config import read_experiments
from pipeline.settings import EXPERIMENTS_FILE, Settings
from pipeline.stats.sufficient import Paired, SampleMean
from tests.abtest.abtest_gold import Gold, simulate, write_gold


def readout_text(settings: Settings, gold: Gold):
    write_gold(gold, settings.warehouse_path)
    outputs = run_abtest(settings, keys=["checkout"])["checkout"]
    md = outputs.markdown.read_text()
    raw_json = outputs.json.read_text()
    json.loads(raw_json)  # valid JSON (allow_nan=False when written)
    assert not re.search(r"\b(nan|inf)\b", md, re.IGNORECASE), md
    assert not re.search(r"\b(NaN|Infinity)\b", raw_json)
    return outputs.readout, md


def test_empty_group(settings: Settings) -> None:
    readout, md = readout_text(settings, simulate(300, seed=2, groups=("control",)))
    assert readout.primary.conversion.message == "empty_group"
    assert readout.primary.srm.flagged  # 300 vs 0 is itself a mismatch, and says so
    assert readout.decision.outcome == "do_not_ship"
    assert md.splitlines()[2] == "## Decision: DO NOT SHIP"
    assert "CANNOT BE TRUSTED" in md


def test_no_conversions_at_all(settings: Settings) -> None:
    readout, md = readout_text(settings, simulate(400, seed=3, base_rate=0.0, injected_rate=0.0))
    assert readout.primary.conversion.message == "no_conversions"
    assert readout.decision.outcome == "keep_running"
    assert "no user converted" in md
    assert readout.revenue.message == "zero_variance"
    assert readout.truth.relative is None
    assert readout.bayesian["conversion"].message == "zero_baseline"


def test_one_week_only(settings: Settings) -> None:
    gold = simulate(600, seed=4, days=3)
    users = gold.users.with_columns(
        first_cart_week=pl.when(pl.col("is_exposed")).then(0),
        first_purchase_week=pl.when(pl.col("converted")).then(0),
    )
    readout, md = readout_text(settings, Gold(users))
    assert len(readout.sequential.looks) == 1
    assert readout.sequential.message == "single_look"
    assert "only one week of data" in md


def test_no_pre_period_makes_cuped_the_identity(settings: Settings) -> None:
    gold = simulate(2_000, seed=8, returning_share=0.0)
    users = gold.users.with_columns(
        pre_sessions=pl.lit(0), pre_converted=pl.lit(False), pre_revenue=pl.lit(0.0)
    )
    readout, md = readout_text(settings, Gold(users))
    assert readout.cuped.message == "no_pre_period"
    assert readout.cuped.adjusted == readout.cuped.unadjusted
    assert "no pre-period covariate" in md


def test_sample_ratio_mismatch_overrides_the_verdict(settings: Settings) -> None:
    readout, md = readout_text(settings, simulate(3_000, seed=6, treatment_share=0.42))
    assert readout.all_users.srm.flagged
    assert readout.decision.outcome == "do_not_ship"
    assert "not split 50/50" in md.splitlines()[4]
    assert "CANNOT BE TRUSTED" in md


def test_nan_revenue_is_reported_not_printed() -> None:
    """The issue's NaN revenue passed as ok with p = 1.0; now a message code everywhere."""
    from pipeline.abtest.queries import zero_stats

    base = zero_stats()
    bad = replace(
        base,
        users=10,
        revenue=Paired(SampleMean(10, math.nan, 1.0), SampleMean(10, 0.0, 0.0), 0.0),
    )
    stats = ExperimentStats({("all", "control"): bad, ("all", "treatment"): bad}, None, None)
    checkout = read_experiments(EXPERIMENTS_FILE).get("checkout")
    readout = build_readout(ReadoutData(stats, WeeklyCounts(()), []), ReadoutConfig(), checkout)
    assert readout.revenue.message == "non_finite"
    assert readout.guardrails[0].status == "not_tested"
    text = markdown(readout)
    assert "not a finite number" in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)


def test_cli_writes_the_reports(settings: Settings) -> None:
    write_gold(simulate(1_500, seed=7), settings.warehouse_path)
    result = CliRunner().invoke(
        app,
        [
            "abtest",
            "--data-dir",
            str(settings.data_dir),
            "--winsorize",
            "0.99",
            "--correction",
            "bh",
            "--sequential-tuning",
            "3000",
            "--revenue-margin",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    decisions = re.findall(
        r"^Decision: (SHIP|DO NOT SHIP|KEEP RUNNING|INVESTIGATE)$", result.output, re.MULTILINE
    )
    assert len(decisions) == 2  # both experiments of experiments.yml
    # The standing A/A has no rows in this table: an empty readout, said in words.
    empty = read_readout(settings.reports_dir / "abtest" / "aa-standing" / "readout.json")
    assert empty["primary"]["conversion"]["message"] == "empty_group"
    assert empty["decision"]["outcome"] == "keep_running"
    out = settings.reports_dir / "abtest" / "checkout"
    document = read_readout(out / "readout.json")
    assert document["power"]["target_relative_lift"] == 0.05  # experiments.yml's MDE
    assert document["config"] == {
        "alpha": 0.05,
        "srm_alpha": 0.001,
        "power": 0.8,
        "target_relative_lift": None,
        "winsorize_at": 0.99,
        "correction": "bh",
        "sequential_tuning": 3000.0,
        "revenue_margin": 0.05,
    }
    assert "Benjamini-Hochberg" in (out / "readout.md").read_text()
    for name in ("conversion_by_group.png", "cumulative_lift.png", "readout.html"):
        assert (out / name).stat().st_size > 1_000


def test_readout_json_grows_without_breaking_readers(settings: Settings, tmp_path) -> None:
    write_gold(simulate(800, seed=9), settings.warehouse_path)
    path = run_abtest(settings, keys=["checkout"])["checkout"].json
    document = read_readout(path)
    assert document["schema_version"] == "3.0"
    # A later minor version with new fields still reads; every 3.x path stays.
    grown = {**document, "schema_version": "3.3", "a_new_section": {"x": 1}}
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(grown))
    assert read_readout(newer)["a_new_section"] == {"x": 1}
    broken = {k: v for k, v in document.items() if k != "guardrails"}
    newer.write_text(json.dumps(broken))
    with pytest.raises(InputError, match="guardrails"):
        read_readout(newer)
    newer.write_text(json.dumps({**document, "schema_version": "2.0"}))
    with pytest.raises(InputError, match=r"reads 3\.x"):
        read_readout(newer)
    assert len(REQUIRED) >= 19


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        ([], 4, "ecom ingest"),  # no warehouse yet
        (["--correction", "bonferroni"], 2, "'holm', 'bh'"),
        (["--winsorize", "1.5"], 2, "percentile"),
        (["--sequential-tuning", "nan"], 2, "sequential_tuning must be a finite number"),
        (["--target-lift", "nan"], 2, "target_relative_lift must be a finite number"),
        (["--target-lift", "-1.5"], 2, "above -100%"),
        (["--alpha", "inf"], 2, "alpha must be a finite number"),
        (["--winsorize", "nan"], 2, "winsorize_at must be a finite number"),
        (["--revenue-margin", "-0.1"], 2, "revenue_margin"),
    ],
)
def test_cli_errors_say_what_to_do(settings: Settings, args, code, text) -> None:
    result = CliRunner().invoke(app, ["abtest", "--data-dir", str(settings.data_dir), *args])
    assert result.exit_code == code
    assert text in result.output


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("alpha", math.nan, "alpha must be a finite number"),
        ("srm_alpha", math.inf, "srm_alpha must be a finite number"),
        ("srm_alpha", 0.0, "srm_alpha must be between 0 and 1"),
        ("power", math.nan, "power must be a finite number"),
        ("target_relative_lift", math.nan, "target_relative_lift must be a finite number"),
        ("target_relative_lift", -math.inf, "target_relative_lift must be a finite number"),
        ("target_relative_lift", -1.0, "above -100%"),
        ("target_relative_lift", 0.0, "non-zero"),
        ("sequential_tuning", math.nan, "sequential_tuning must be a finite number"),
        ("sequential_tuning", math.inf, "sequential_tuning must be a finite number"),
        ("winsorize_at", math.nan, "winsorize_at must be a finite number"),
        ("winsorize_at", 0.4, "percentile between 0.5 and 1"),
        ("correction", "bonferroni", "holm, bh"),
        ("revenue_margin", 1.5, "revenue_margin"),
    ],
)
def test_config_rejects_what_would_print_nan(field, value, text) -> None:
    """Any caller, not only the CLI, gets the check: NaN passes `<= 0` and `< 1` tests."""
    with pytest.raises(ValueError, match=re.escape(text)):
        ReadoutConfig(**{field: value})


def test_config_accepts_sensible_values() -> None:
    config = ReadoutConfig(
        alpha=0.01, winsorize_at=0.99, target_relative_lift=-0.2, sequential_tuning=1e6
    )
    assert config.target_relative_lift == -0.2
