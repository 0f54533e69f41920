"""The Monitoring tab through AppTest: the model in use, the latest drift summary in the shape
`ecom drift` writes (C6), its Evidently HTML, and data freshness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from pipeline.errors import DataContractError
from pipeline.serving import registry
from streamlit_app.data.monitoring import read_drift
from tests.app.apptest import Downloads, chart_titled, metric, no_exception, open_app, texts
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
                "month": "2020-02",
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
                        "center": {"statistic": "median", "reference": 2.0, "current": 3.0},
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
                "label": "2020-01",
                "month": "2020-01",
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


def test_model_outcomes_drift_and_freshness(
    monkeypatch: pytest.MonkeyPatch, monitored: Path, pipeline_run: Pipeline, api_server
) -> None:
    downloads = Downloads(monkeypatch)
    at = open_monitoring(monkeypatch, monitored, pipeline_run, api_server.url)
    no_exception(at)
    models = pipeline_run.settings.models_dir
    model_id = registry.current_id(models)
    assert any(m.startswith(f"**{model_id}**, trained") for m in texts(at, "markdown"))
    assert any("serves this model" in c for c in texts(at, "caption"))
    card = json.loads((registry.resolve(models) / "model_card.json").read_text())
    (evaluation,) = [d.value for d in at.dataframe if "Evaluation" in d.value.columns]
    row = evaluation[
        (evaluation["Evaluation"] == "Random split") & (evaluation["Scorer"] == "This model")
    ]
    assert row["ROC-AUC"].item() == pytest.approx(
        card["evaluation"]["random_split"]["model"]["roc_auc"], abs=5e-4
    )

    # How the model did: the warehouse's scores after the training window, against sklearn.
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        after = con.sql(
            "select s.abandoned_cart::int as y, c.abandonment_probability as p "
            "from gold.cart_session_scores c join gold.fct_cart_sessions s using (session_id) "
            f"where s.session_month > '2020-01' and c.model_id = '{model_id}'"
        ).pl()
    assert metric(at, "Sessions after training") == f"{after.height:,}"
    assert metric(at, "Realized ROC-AUC") == f"{roc_auc_score(after['y'], after['p']):.3f}"
    assert metric(at, "Brier score") == f"{brier_score_loss(after['y'], after['p']):.3f}"
    assert metric(at, "Observed abandonment") == f"{after['y'].mean() * 100:.1f}%"
    (segments,) = [d.value for d in at.dataframe if "Segment" in d.value.columns]
    assert list(segments["Segment"])[:2] == ["Control checkout", "Treatment checkout"]
    (calibration,) = [d.value for d in at.dataframe if "Bin" in d.value.columns]
    assert calibration["Bin"].iloc[0].endswith("%") and len(calibration) <= 10
    weeks, _ = chart_titled(at, "Realized ROC-AUC by week")
    assert weeks["encoding"]["x"]["axis"]["format"] == "%b %Y"

    # Drift: the features in words, with what to do.
    assert any(w.startswith("Drift in Product views per session.") for w in texts(at, "warning"))
    words = [m for m in texts(at, "markdown") if m.startswith("- **Product views per session**")]
    assert len(words) == 1
    assert (
        "from a median of 2.0 in the training reference to a median of 3.0 in Feb 2020" in words[0]
    )
    assert "0.0012, below the threshold 0.05" in words[0] and "retrain" in words[0]
    (tests,) = [d.value for d in at.dataframe if "Test" in d.value.columns]
    assert len(tests) == 5 and list(tests[tests["Drifted"] == "yes"]["Feature"]) == [
        "Product views per session"
    ]

    html = downloads.of(at.download_button(key="dl_drift_html"))
    assert html.data == HTML.encode() and html.file_name == "drift_2020-02.html"
    assert not at.get("iframe")
    at.button(key="show_drift_html").click().run()
    no_exception(at)
    (frame,) = at.get("iframe")
    assert "Evidently data drift" in frame.proto.srcdoc

    manifests = [json.loads(p.read_text()) for p in (monitored / "manifests").glob("*.json")]
    rows = sum(m["rows_written"] for m in manifests)
    assert any(f"Data as of 2020-Feb ({rows:,} rows" in m for m in texts(at, "markdown"))
    freshness = at.dataframe[-1].value
    assert list(freshness["Month"]) == ["2019-Oct", "2019-Nov", "2019-Dec", "2020-Jan", "2020-Feb"]
    assert freshness["Rows kept"].iloc[0] == f"{manifests_by_month(monitored)['2019-Oct']:,}"


def manifests_by_month(data: Path) -> dict[str, int]:
    found = [json.loads(p.read_text()) for p in (data / "manifests").glob("*.json")]
    return {m["month"]: m["rows_written"] for m in found}


def test_a_drift_check_of_another_model_is_flagged(
    monkeypatch: pytest.MonkeyPatch, monitored: Path, pipeline_run: Pipeline, refused_url: str
) -> None:
    (monitored / "reports" / "drift" / "latest.json").write_text(
        json.dumps(drift_summary("abandonment-000000000000"))
    )
    at = open_monitoring(monkeypatch, monitored, pipeline_run, refused_url)
    no_exception(at)
    assert any("made for abandonment-000000000000" in c for c in texts(at, "caption"))
    assert any(
        c.startswith("The scoring API at") and "not reachable" in c and "Errno" not in c
        for c in texts(at, "caption")
    )


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


def test_every_run_is_kept_and_a_shift_never_replaces_the_real_check(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pipeline_run: Pipeline,
    drift_run: Path,
    refused_url: str,
) -> None:
    """What `ecom drift` wrote (not a hand-made file): a real check of February (the fixture),
    then training months, then a `--shift` demonstration. The trend shows every month's newest
    real check; latest.json stays the real one; every run is listed."""
    from pipeline.drift.run import run_drift

    data = tmp_path / "data"
    shutil.copytree(drift_run, data / "reports" / "drift")
    settings = pipeline_run.settings.model_copy(update={"data_dir": data})
    settings = settings.model_copy(
        update={
            "duckdb_path": pipeline_run.settings.warehouse_path,
            "models_dir": pipeline_run.settings.models_dir,
        }
    )
    run_drift(settings, months=["2019-12", "2020-01"])
    real = (data / "reports" / "drift" / "latest.json").read_bytes()
    run_drift(settings, shift=True)
    assert (data / "reports" / "drift" / "latest.json").read_bytes() == real
    downloads = Downloads(monkeypatch)
    at = open_monitoring(monkeypatch, data, pipeline_run, refused_url)
    no_exception(at)
    _, trend = chart_titled(at, "Drift by month")
    assert sorted(set(trend["month"])) == sorted(
        ["Dec 2019 (trained on)", "Jan 2020 (trained on)", "Feb 2020"]
    )
    assert trend.height == 3 * 5
    (runs,) = [d.value for d in at.dataframe if "Run" in d.value.columns]
    assert list(runs["Kind"]) == ["demonstration (--shift)", "check", "check"]
    assert any(e.label.startswith("What drift looks like") for e in at.expander)
    latest = json.loads(real)
    html = downloads.of(at.download_button(key="dl_drift_html"))
    assert html.data == (data / "reports" / "drift" / latest["slices"][-1]["html"]).read_bytes()
    assert html.data.lstrip().lower().startswith(b"<!doctype html") or b"<html" in html.data[:500]
