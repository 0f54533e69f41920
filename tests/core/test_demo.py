"""`ecom demo` (what `make demo` runs) goes from nothing to every output, on a tiny scale."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.serving.registry import MOMENT, resolve
from pipeline.settings import MONTHS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_demo_runs_every_stage_and_accounts_for_every_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["demo", "--scale", "0.005", "--data-dir", str(data), "--no-serve"]
    )
    assert result.exit_code == 0, result.output

    # Ingestion: every raw line is in bronze or in quarantine, month by month.
    manifests = [json.loads((data / "manifests" / f"{m}.json").read_text()) for m in MONTHS]
    for manifest in manifests:
        assert manifest["rows_read"] == manifest["rows_written"] + manifest["rows_quarantined"]
        assert manifest["rows_quarantined"] > 0  # the generator's malformed lines
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        bronze = con.execute("select count(*) from bronze.events").fetchone()[0]
        users = con.execute("select count(*) from gold.dim_users").fetchone()[0]
        scored = con.execute("select count(*) from gold.cart_session_scores").fetchone()[0]
        carts = con.execute("select count(*) from gold.fct_cart_sessions").fetchone()[0]
        moments = con.execute("select count(*) from gold.fct_cart_moments").fetchone()[0]
        moment_scores = con.execute(
            "select count(*), count(distinct model_id) from gold.cart_moment_scores"
        ).fetchone()
    assert bronze == sum(m["rows_written"] for m in manifests)
    assert users > 1_000
    assert scored == carts > 0
    assert moment_scores == (moments, 1) and moments > carts  # up to three points a session

    # The readout finds the injected uplift.
    reports = data / "reports" / "abtest"
    readout = json.loads((reports / "checkout" / "readout.json").read_text())
    conversion = readout["primary"]["conversion"]
    assert conversion["treatment"]["mean"] > conversion["control"]["mean"]
    assert conversion["p_value"] < 0.001
    assert (
        readout["experiment"]["uplift_rate"] == 0.05 and manifests[0]["experiment"]["start"] is None
    )
    assert (reports / "checkout" / "readout.md").read_text().startswith("# ")
    # The standing A/A: no effect, no sample ratio mismatch anywhere, nothing to ship.
    aa = json.loads((reports / "aa-standing" / "readout.json").read_text())
    assert not aa["primary"]["conversion"]["significant"]
    assert not aa["primary"]["srm"]["flagged"] and not aa["all_users"]["srm"]["flagged"]
    assert not any(c["flagged"] for c in aa["srm_by_day"]["checks"])
    assert aa["decision"]["outcome"] == "keep_running"
    # Every number of both readouts is in the warehouse.
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        results = dict(
            con.execute(
                "select experiment_key, count(distinct run_id) from gold.experiment_results "
                "group by experiment_key"
            ).fetchall()
        )
    assert results == {"checkout": 1, "aa-standing": 1}

    # The model folder and its explanations.
    model_dir = resolve(data / "models")
    assert (model_dir / "model.bst").stat().st_size > 0
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["parameters"]["n_estimators"] == 100
    pngs = sorted((data / "reports" / "shap").glob("*.png"))
    assert len(pngs) == 3
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)

    # Model operations: a version trained on all months but the last, an honest card, and a
    # drift report on the month the model has not seen.
    assert card["model_id"] == model_dir.name and card["data_window"]["months"][-1] == "2020-01"
    assert (model_dir / "model_card.md").read_text().startswith(f"# Model card: {model_dir.name}")
    (group,) = [i for i in card["limitations"] if i["topic"] == "experiment group"]
    injected = group["injected_purchases"]
    assert 0 < injected["share"] < injected["treatment_share"] < 1  # injection: Treatment only
    # Both models: the moment family's version, its card and decision readout, and both
    # evaluations printed.
    moment_dir = resolve(data / "models", family=MOMENT)
    moment_card = json.loads((moment_dir / "model_card.json").read_text())
    assert moment_card["data_window"]["test_month"] == "2020-02"
    assert (moment_dir / "calibration.json").exists() and (moment_dir / "decision.json").exists()
    decision = json.loads((data / "reports" / "moment" / "decision.json").read_text())
    assert decision["model_id"] == moment_card["model_id"]
    output = " ".join(result.output.split())
    assert "random split:" in output and "time split:" in output  # the session model's
    assert "moment model (local, pooled points)" in output and "first_cart:" in output
    latest = json.loads((data / "reports" / "drift" / "latest.json").read_text())
    assert latest["model_id"] == card["model_id"]
    assert [s["label"] for s in latest["slices"]] == ["2020-02"]
    assert (data / "reports" / "drift" / "drift_2020-02.html").stat().st_size > 100_000
