"""Degenerate data gives a clear message in the report, never a NaN verdict or a traceback;
and the `ecom abtest` command end to end through typer."""

from __future__ import annotations

import json
import math
import re

import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.abtest import ReadoutConfig, run_abtest
from pipeline.cli import app
from pipeline.settings import Settings
from tests.abtest.abtest_gold import Gold, simulate, write_gold


def readout_text(settings: Settings, gold: Gold):
    write_gold(gold, settings.warehouse_path)
    outputs = run_abtest(settings)
    md = outputs.markdown.read_text()
    raw_json = outputs.json.read_text()
    json.loads(raw_json)  # valid JSON (allow_nan=False when written)
    assert not re.search(r"\b(nan|inf)\b", md, re.IGNORECASE), md
    assert not re.search(r"\b(NaN|Infinity)\b", raw_json)
    return outputs.readout, md


def test_empty_group(settings: Settings) -> None:
    readout, md = readout_text(settings, simulate(300, seed=2, groups=("control",)))
    assert readout.conversion.message == "empty_group"
    assert (
        md.splitlines()[2]
        == "**No verdict: a group has no users, so there is nothing to compare.**"
    )
    assert readout.srm.flagged  # 300 vs 0 is itself a mismatch, and says so
    assert "CANNOT BE TRUSTED" in md


def test_no_conversions_at_all(settings: Settings) -> None:
    readout, md = readout_text(settings, simulate(400, seed=3, base_rate=0.0, injected_rate=0.0))
    assert readout.conversion.message == "no_conversions"
    assert "No verdict: no user converted" in md
    assert readout.revenue.message == "zero_variance"
    assert "does not vary" in md
    assert readout.truth.relative is None


def test_one_week_only(settings: Settings) -> None:
    gold = simulate(600, seed=4, days=3)
    # Keep every event inside the first week: purchases and later sessions on arrival.
    users = gold.users.with_columns(
        pl.when(pl.col("converted")).then(pl.col("first_seen_at")).alias("first_purchase_at")
    )
    readout, md = readout_text(settings, Gold(users, gold.sessions))
    assert len(readout.sequential.looks) == 1
    assert readout.sequential.message == "single_look"
    assert "only one week of data" in md


def test_group_missing_from_a_segment(settings: Settings) -> None:
    gold = simulate(800, seed=5)
    # Drop Treatment's January sessions: that month has Control only.
    sessions = gold.sessions.filter(
        ~((pl.col("session_month") == "2020-01") & (pl.col("experiment_group") == "treatment"))
    )
    readout, md = readout_text(settings, Gold(gold.users, sessions))
    january = next(s for s in readout.segments if s.segment == "2020-01")
    assert january.message == "missing_group" and january.adjusted_p is None
    assert "one group is absent from this segment" in md
    tested = [s for s in readout.segments if s.adjusted_p is not None]
    assert f"across all {len(tested)} segment tests" in md


def test_sample_ratio_mismatch_overrides_the_verdict(settings: Settings) -> None:
    readout, md = readout_text(settings, simulate(3_000, seed=6, treatment_share=0.42))
    assert readout.srm.flagged
    assert md.splitlines()[2].startswith("**Do not act on this experiment")
    assert "CANNOT BE TRUSTED" in md


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
        ],
    )
    assert result.exit_code == 0, result.output
    out = settings.reports_dir / "abtest"
    document = json.loads((out / "readout.json").read_text())
    assert document["config"] == {
        "alpha": 0.05,
        "srm_alpha": 0.001,
        "verdict_test": "yates",
        "power": 0.8,
        "target_relative_lift": 0.05,
        "winsorize_at": 0.99,
        "correction": "bh",
        "sequential_tuning": 3000.0,
    }
    assert "Benjamini-Hochberg" in (out / "readout.md").read_text()
    for name in ("conversion_by_group.png", "cumulative_lift.png", "readout.html"):
        assert (out / name).stat().st_size > 1_000


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        ([], 4, "ecom ingest"),  # no warehouse yet
        (["--correction", "bonferroni"], 2, "holm or bh"),
        (["--winsorize", "1.5"], 2, "percentile"),
        (["--sequential-tuning", "nan"], 2, "sequential_tuning must be a finite number"),
        (["--target-lift", "nan"], 2, "target_relative_lift must be a finite number"),
        (["--target-lift", "-1.5"], 2, "above -100%"),
        (["--alpha", "inf"], 2, "alpha must be a finite number"),
        (["--winsorize", "nan"], 2, "winsorize_at must be a finite number"),
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
        ("verdict_test", "fisher", "yates or pearson"),
        ("correction", "bonferroni", "holm, bh"),
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
