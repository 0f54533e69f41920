"""gold.experiment_results on DuckDB (the emulator's run is in tests/warehouse): every row
equals readout.json where the test finds it by its own path; a re-run replaces its rows, new
settings or new data add a run and keep the earlier ones; the documented "shipped last
quarter" query answers from it."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from pipeline.abtest import ReadoutConfig, run_abtest
from pipeline.abtest.results import KEY, RESULTS_SCHEMA, TABLE, shipped_last_quarter_sql
from pipeline.settings import Settings
from pipeline.warehouse import connect
from tests.abtest.abtest_gold import Gold, simulate, write_gold

CONFIG = ReadoutConfig(winsorize_at=0.95)


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("results") / "data")
    write_gold(simulate(3_000, seed=2), settings.warehouse_path)
    return settings


@pytest.fixture(scope="module")
def first(settings):
    return run_abtest(settings, CONFIG, keys=["checkout"])["checkout"]


def table(settings: Settings) -> pl.DataFrame:
    wh = connect(settings)
    return wh.query(f"select * from {wh.table('gold', TABLE)}")


def source(doc: dict, row: dict) -> tuple[dict, str]:
    """Where readout.json holds this row's numbers (found by the document's own paths), and
    its kind: a conversion, a means comparison, a guardrail, a look or a sample ratio."""
    family, metric, method = row["family"], row["metric"], row["method"]
    if family == "primary":
        return doc["primary"]["conversion"], "conversion"
    if family == "segments":
        (seg,) = [
            s
            for s in doc["segments"]
            if (s["dimension"], s["segment"]) == (row["dimension"], row["segment"])
        ]
        return seg["result"], "conversion"
    if family == "sequential":
        return doc["sequential"]["looks"][row["look"]], "look"
    if family in ("guardrails", "non_inferiority"):
        (g,) = [g for g in doc["guardrails"] if g["metric"] == metric]
        return g, method
    if family == "srm":
        pop = doc["primary"] if row["population"] == "exposed" else doc["all_users"]
        return pop["srm"], "srm"
    if family.startswith("srm_by_"):
        families = [doc["srm_by_day"], *doc["srm_by_segment"]]
        (fam,) = [f for f in families if f["dimension"] == row["dimension"]]
        (check,) = [c for c in fam["checks"] if c["segment"] == row["segment"]]
        return check, "srm_check"
    if family == "balance":
        (test,) = [t for t in doc["balance"]["tests"] if t["metric"] == metric]
        return test["comparison"], "means"
    secondary = {
        ("cart_conversion", "cuped"): doc["cuped"]["adjusted"],
        ("conversion", "z_test"): doc["all_users"]["conversion"],
        ("revenue_per_user", "welch"): doc["revenue"],
        ("revenue_per_user", "cuped"): doc["revenue_cuped"]["adjusted"],
        ("revenue_per_user", "welch_winsorized"): doc["revenue_winsorized"],
        ("revenue_per_order", "delta_ratio"): doc["revenue_per_order"],
        ("revenue_per_item", "delta_ratio"): doc["revenue_per_item"],
    }[(metric, method)]
    return secondary, "conversion" if metric == "conversion" else "means"


def expected(doc: dict, row: dict) -> dict[str, Any]:
    found, kind = source(doc, row)
    if kind == "conversion":
        a, rel = found["absolute"], found["relative"]
        return {
            "control_units": found["control"]["n"],
            "treatment_value": found["treatment"]["mean"],
            "estimate": a["estimate"],
            "ci_upper": a["ci"]["upper"],
            "relative_ci_lower": rel["ci"]["lower"],
            "p_value": found["p_value"],
        }
    if kind in ("means", "non_inferiority", "harm_test"):
        m = found if kind == "means" else found["comparison"]
        out = {
            "control_units": m["n_control"],
            "treatment_value": m["treatment_mean"],
            "estimate": m["absolute"]["estimate"],
            "ci_lower": m["absolute"]["ci"]["lower"],
            "relative_estimate": m["relative"]["estimate"] if m["relative"] else None,
        }
        if kind == "harm_test":
            out |= {"p_value": found["p_harm"], "adjusted_p_value": found["p_harm_adjusted"]}
        elif kind == "non_inferiority":
            out |= {"p_value": found["p_noninferiority"]}
        else:
            out |= {"p_value": m["p_value"]}
        return out
    if kind == "look":
        return {
            "look": found["week"],
            "treatment_units": found["treatment"]["n"],
            "estimate": found["estimate"],
            "ci_lower": found["sequential_ci"]["lower"],
            "p_value": found["sequential_p"],
        }
    result = found if kind == "srm" else found["result"]
    out = {
        "control_units": result["observed"][0],
        "treatment_units": result["observed"][1],
        "p_value": result["p_value"],
        "is_significant": result["flagged"] if kind == "srm" else found["flagged"],
    }
    if kind == "srm_check":
        out["adjusted_p_value"] = found["adjusted_p"]
    return out


def same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15)
    return got == want


def test_every_row_equals_the_readout_json(settings, first) -> None:
    doc = json.loads(first.json.read_text())
    rows = table(settings).filter(pl.col("run_id") == doc["run_id"])
    assert rows.height == first.result_rows > 100
    assert rows.select(KEY).n_unique() == rows.height  # the stated grain is a key
    for row in rows.iter_rows(named=True):
        assert row["experiment_key"] == doc["experiment"]["key"] == "checkout"
        assert row["decision"] == doc["decision"]["outcome"]
        assert row["data_through"] == datetime.fromisoformat(doc["experiment"]["data_through"])
        assert row["experiment_start"] == date.fromisoformat(doc["experiment"]["start"])
        (family,) = [f for f in doc["families"] if f["key"] == row["family"]]
        assert row["correction"] == family["correction"] or row["family"] == "segments"
        for column, value in expected(doc, row).items():
            assert same(row[column], value), (row["family"], row["metric"], column)
    # Every result of the document is a row: the counts per family agree.
    looks = len(doc["sequential"]["looks"])
    checks = sum(len(f["checks"]) for f in [doc["srm_by_day"], *doc["srm_by_segment"]])
    per_family = dict(rows.group_by("family").len().iter_rows())
    assert per_family["sequential"] == looks and per_family["segments"] == len(doc["segments"])
    assert sum(v for k, v in per_family.items() if k.startswith("srm_by_")) == checks
    assert per_family["guardrails"] == len(doc["guardrails"])
    assert per_family["secondary"] == 7  # winsorized too (CONFIG asks for it)


def test_a_rerun_replaces_its_rows_and_other_runs_stay(settings, first) -> None:
    before = table(settings)
    again = run_abtest(settings, CONFIG, keys=["checkout"])["checkout"]
    assert again.readout.run_id == first.readout.run_id
    after = table(settings)
    assert after.height == before.height  # replaced, not duplicated
    assert after["written_at"].min() > before["written_at"].max()
    other = run_abtest(settings, ReadoutConfig(alpha=0.01), keys=["checkout"])["checkout"]
    assert other.readout.run_id != first.readout.run_id  # other settings: another run
    both = table(settings)
    assert both.height == before.height + other.result_rows
    assert set(both["run_id"]) == {first.readout.run_id, other.readout.run_id}
    assert dict(both.schema) == dict(RESULTS_SCHEMA)


def test_the_documented_query_lists_what_shipped_last_quarter(tmp_path, first) -> None:
    """Four experiments' histories: only those whose latest readout shipped on data of last
    quarter are listed, with their lift."""
    settings = Settings(data_dir=tmp_path / "data")
    write_gold(Gold(simulate(200, seed=3).users), settings.warehouse_path)
    wh = connect(settings)
    base = table_of(first)
    histories = {
        # key: [(run, decision, data through, lift)], oldest first
        "shipped-q4": [
            ("r1", "keep_running", "2019-11-30", 0.01),
            ("r2", "ship", "2019-12-20", 0.04),
        ],
        "reverted": [("r1", "ship", "2019-11-15", 0.03), ("r2", "do_not_ship", "2019-12-28", 0.0)],
        "shipped-q3": [("r1", "ship", "2019-09-30", 0.05)],
        "running": [("r1", "keep_running", "2019-12-30", 0.02)],
    }
    for key, runs in histories.items():
        for run, decision, through, lift in runs:
            at = datetime.fromisoformat(f"{through}T12:00:00+00:00")
            wh.replace_rows(
                "gold",
                TABLE,
                RESULTS_SCHEMA,
                base.with_columns(
                    experiment_key=pl.lit(key),
                    run_id=pl.lit(run),
                    decision=pl.lit(decision),
                    data_through=pl.lit(at, RESULTS_SCHEMA["data_through"]),
                    relative_estimate=pl.lit(lift),
                ),
                {"experiment_key": key, "run_id": run},
            )
    found = wh.query(shipped_last_quarter_sql(wh, date(2020, 1, 15)))
    assert found["experiment_key"].to_list() == ["shipped-q4"]
    assert found["lift"].to_list() == [0.04]
    assert found["run_id"].to_list() == ["r2"]
    assert wh.query(shipped_last_quarter_sql(wh, date(2019, 10, 2)))[
        "experiment_key"
    ].to_list() == ["shipped-q3"]
    assert wh.query(shipped_last_quarter_sql(wh)).height == 0  # today: nothing shipped in 2019


def table_of(outputs) -> pl.DataFrame:
    from pipeline.abtest import report, results

    return results.frame(results.rows(report.document(outputs.readout), datetime.now(UTC)))


def test_the_docs_show_the_query_the_template_renders(settings) -> None:
    """docs/how-to/add-an-experiment.md prints the query; it must be the template's text."""
    from pipeline.settings import REPO_ROOT

    page = (REPO_ROOT / "docs" / "how-to" / "add-an-experiment.md").read_text()
    section = page.split("## Every experiment that shipped last quarter")[1]
    shown = section.split("```sql\n")[1].split("```")[0]
    assert shown == shipped_last_quarter_sql(connect(settings))
