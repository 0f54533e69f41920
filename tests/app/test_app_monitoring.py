"""The Monitoring tab through AppTest: the model in use, the latest drift summary in the shape
`ecom drift` writes (C6), its Evidently HTML, and data freshness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.errors import DataContractError
from pipeline.serving import registry
from streamlit_app.data.monitoring import read_drift
from tests.app.apptest import Downloads, no_exception, open_app, texts
from tests.app.conftest import Pipeline

MONITORING = "Monitoring"
HTML = "<html><body><h1>Evidently data drift</h1><p>total_views drifted</p></body></html>"


def drift_summary(model_id: str, html: str = "drift_2020-02.html") -> dict:
    """A summary exactly in C6's shape: one K-S/chi-square slice and one distance slice."""
    return {
        "model_id": model_id,
        "generated_at": "2026-12-01T09:00:00+00:00",
        "reference_rows": 1000,
        "slices": [
            {
                "label": "2020-02",
                "rows": 900,
                "method_regime": "statistical tests (p-value)",
                "drifted_columns": ["total_views"],
                "columns": [
                    {
                        "column": "total_views",
                        "method": "K-S p_value",
                        "threshold": 0.05,
                        "score": 0.0012,
                        "drifted": True,
                    },
                    {
                        "column": "total_carts",
                        "method": "K-S p_value",
                        "threshold": 0.05,
                        "score": 0.41,
                        "drifted": False,
                    },
                    {
                        "column": "session_duration_minutes",
                        "method": "K-S p_value",
                        "threshold": 0.05,
                        "score": 0.73,
                        "drifted": False,
                    },
                    {
                        "column": "experiment_group",
                        "method": "chi-square p_value",
                        "threshold": 0.05,
                        "score": 0.88,
                        "drifted": False,
                    },
                ],
            },
            {
                "label": "all",
                "rows": 150000,
                "method_regime": "distances",
                "drifted_columns": 0,
                "columns": [
                    {
                        "column": "total_views",
                        "method": "Wasserstein distance (normed)",
                        "threshold": 0.1,
                        "score": 0.04,
                        "drifted": False,
                    },
                ],
            },
        ],
        "html": html,
    }


@pytest.fixture
def monitored(tmp_path: Path, pipeline_run: Pipeline) -> Path:
    """A data dir with the run's manifests and a drift report; models and warehouse shared."""
    data = tmp_path / "data"
    shutil.copytree(pipeline_run.settings.manifest_dir, data / "manifests")
    drift = data / "reports" / "drift"
    drift.mkdir(parents=True)
    model_id = registry.current_id(pipeline_run.settings.models_dir)
    (drift / "latest.json").write_text(json.dumps(drift_summary(model_id)))
    (drift / "drift_2020-02.html").write_text(HTML)
    return data


def open_monitoring(monkeypatch, data: Path, pipeline_run: Pipeline, url: str):
    return open_app(
        monkeypatch,
        data,
        url,
        tab=MONITORING,
        ECOM_MODELS_DIR=str(pipeline_run.settings.models_dir),
        ECOM_DUCKDB_PATH=str(pipeline_run.settings.warehouse_path),
    )


def test_model_drift_and_freshness(
    monkeypatch: pytest.MonkeyPatch, monitored: Path, pipeline_run: Pipeline, api_server
) -> None:
    downloads = Downloads(monkeypatch)
    at = open_monitoring(monkeypatch, monitored, pipeline_run, api_server.url)
    no_exception(at)
    model_id = registry.current_id(pipeline_run.settings.models_dir)
    assert any(f"`{model_id}`" in m for m in texts(at, "markdown"))
    assert any("serves this model" in c for c in texts(at, "caption"))
    metrics = at.dataframe[0].value
    card = json.loads(
        (registry.resolve(pipeline_run.settings.models_dir) / "model_card.json").read_text()
    )
    random_auc = card["evaluation"]["random_split"]["model"]["roc_auc"]
    row = metrics[(metrics["split"] == "random_split") & (metrics["scorer"] == "model")]
    assert row["roc_auc"].item() == pytest.approx(random_auc)

    assert any(w.startswith("Drift in total_views.") for w in texts(at, "warning"))
    slices, columns = at.dataframe[2].value, at.dataframe[3].value  # after metrics, versions
    assert list(slices["slice"]) == ["2020-02", "all"]
    assert list(slices["drifted_columns"]) == [1, 0]
    flagged = columns[columns["drifted"]]
    assert list(flagged["column"]) == ["total_views"]
    assert flagged["method"].item() == "K-S p_value" and flagged["threshold"].item() == 0.05

    html = downloads.of(at.download_button(key="dl_drift_html"))
    assert html.data == HTML.encode() and html.file_name == "drift_2020-02.html"
    assert not at.get("iframe")
    at.toggle(key="show_drift_html").set_value(True).run()
    no_exception(at)
    (frame,) = at.get("iframe")
    assert "Evidently data drift" in frame.proto.srcdoc

    manifests = [json.loads(p.read_text()) for p in (monitored / "manifests").glob("*.json")]
    rows = sum(m["rows_written"] for m in manifests)
    assert any(f"Data as of 2020-Feb ({rows:,} rows" in m for m in texts(at, "markdown"))
    freshness = at.dataframe[-1].value
    assert list(freshness["month"]) == ["2019-Oct", "2019-Nov", "2019-Dec", "2020-Jan", "2020-Feb"]


def test_a_drift_check_of_another_model_is_flagged(
    monkeypatch: pytest.MonkeyPatch, monitored: Path, pipeline_run: Pipeline, refused_url: str
) -> None:
    (monitored / "reports" / "drift" / "latest.json").write_text(
        json.dumps(drift_summary("abandonment-000000000000"))
    )
    at = open_monitoring(monkeypatch, monitored, pipeline_run, refused_url)
    no_exception(at)
    assert any("made for abandonment-000000000000" in c for c in texts(at, "caption"))
    assert any("API status: The scoring API" in c for c in texts(at, "caption"))


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda s: s.pop("slices"), "has no 'slices'"),
        (lambda s: s["slices"][0]["columns"][0].update(drifted="yes"), "must be true or false"),
        (lambda s: s["slices"][0].update(drifted_columns=["total_carts"]), "disagrees"),
        (lambda s: s["slices"][1].update(drifted_columns=3), "3 but 0 columns"),
        (lambda s: s.update(html="../../etc/passwd"), "must be a file name"),
        (lambda s: s["slices"][0]["columns"][1].update(score=float("nan")), "finite number"),
    ],
    ids=["no-slices", "flag", "names", "count", "path", "nan"],
)
def test_a_malformed_summary_is_refused_with_what_is_wrong(tmp_path: Path, mutate, problem) -> None:
    drift = tmp_path / "drift"
    drift.mkdir()
    summary = drift_summary("abandonment-x")
    mutate(summary)
    (drift / "latest.json").write_text(json.dumps(summary))
    with pytest.raises(DataContractError, match=problem) as err:
        read_drift(drift)
    assert "Re-run `ecom drift`" in str(err.value)


def test_malformed_summary_in_the_tab_and_no_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, refused_url: str
) -> None:
    data = tmp_path / "data"
    (data / "reports" / "drift").mkdir(parents=True)
    (data / "reports" / "drift" / "latest.json").write_text("{not json")
    at = open_app(monkeypatch, data, refused_url, tab=MONITORING)
    no_exception(at)
    assert any("No model in" in w and "ecom train" in w for w in texts(at, "warning"))
    assert any("is not a drift summary" in e for e in texts(at, "error"))
    assert any("No data ingested yet" in m for m in texts(at, "markdown"))


def test_no_drift_yet_and_a_missing_html(
    monkeypatch: pytest.MonkeyPatch, monitored: Path, pipeline_run: Pipeline, refused_url: str
) -> None:
    (monitored / "reports" / "drift" / "drift_2020-02.html").unlink()
    at = open_monitoring(monkeypatch, monitored, pipeline_run, refused_url)
    no_exception(at)
    assert any("its HTML file is missing" in c for c in texts(at, "caption"))
    (monitored / "reports" / "drift" / "latest.json").unlink()
    at.run()
    assert any("No drift check yet" in i for i in texts(at, "info"))


def test_a_real_drift_run_is_shown_with_its_report(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pipeline_run: Pipeline,
    drift_run: Path,
    refused_url: str,
) -> None:
    """What `ecom drift` wrote for this run (not a hand-made file): slices, columns, HTML."""
    data = tmp_path / "data"
    shutil.copytree(drift_run, data / "reports" / "drift")
    latest = json.loads((drift_run / "latest.json").read_text())
    downloads = Downloads(monkeypatch)
    at = open_monitoring(monkeypatch, data, pipeline_run, refused_url)
    no_exception(at)
    slices = at.dataframe[2].value
    assert list(slices["slice"]) == [s["label"] for s in latest["slices"]]
    assert list(slices["drifted_columns"]) == [len(s["drifted_columns"]) for s in latest["slices"]]
    columns = at.dataframe[3].value
    assert len(columns) == sum(len(s["columns"]) for s in latest["slices"])
    html = downloads.of(at.download_button(key="dl_drift_html"))
    assert html.data == (drift_run / latest["slices"][-1]["html"]).read_bytes()
    assert html.data.lstrip().lower().startswith(b"<!doctype html") or b"<html" in html.data[:500]
