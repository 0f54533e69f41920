"""Evidently drift reports on generated cart sessions: a shifted slice is flagged and an
unshifted one is not, in both of Evidently's regimes (a 1,000-row reference: p-values; a
20,000-row one: distances), with the scores checked against scipy and statsmodels; the
command end to end on a real DuckDB warehouse, and its errors.

The unshifted slices are fresh draws from the generator that made the reference, with fixed
seeds: under no drift each p-value test still flags 5% of columns by design (the command's
test below meets one), so a slice counts as flagged by the share of its drifted columns.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp, wasserstein_distance
from statsmodels.stats.proportion import proportions_ztest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.drift import data as drift_data
from pipeline.drift.run import compare
from pipeline.drift.summary import DriftSummary
from pipeline.errors import ModelError
from pipeline.model.train import train_local
from pipeline.settings import REPO_ROOT, Settings
from tests.model.conftest import FAST, cart_sessions, design_matrix, write_warehouse

SHIFTED = set(drift_data.SHIFT_FACTORS)
UNTOUCHED = {"total_carts", "experiment_group"}
WINDOW = ("2019-10", "2019-11", "2019-12")
LATER = ("2020-01", "2020-02")


def frame(model, n: int, seed: int):
    return drift_data.frame_from_matrix(model, design_matrix(cart_sessions(n, seed=seed)))


def strict_json(path: Path):
    def refuse(constant: str):
        raise AssertionError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize(
    ("rows", "regime"),
    [(1_000, "p_value"), (20_000, "distance")],
    ids=["small-p-values", "large-distances"],
)
def test_a_shifted_slice_is_flagged_and_an_unshifted_one_is_not(trained, rows, regime):
    model = trained.model
    reference = frame(model, rows, seed=21)
    current = frame(model, rows, seed=22)
    quiet = compare(reference, current, "unshifted").summary.to_dict()
    assert quiet["method_regime"] == regime == quiet["regime_expected"]
    assert quiet["drifted_columns"] == [] and quiet["dataset_drifted"] is False
    moved = compare(reference, drift_data.shifted(current, model), "shifted").summary.to_dict()
    assert moved["method_regime"] == regime
    assert set(moved["drifted_columns"]) >= SHIFTED
    assert not UNTOUCHED & set(moved["drifted_columns"])
    json.dumps(moved, allow_nan=False)
    # Evidently's scores against independent implementations.
    by_column = {c["column"]: c for c in quiet["columns"]}
    for name in ("total_views", "session_duration_minutes", "abandonment_probability"):
        ref, cur = reference[name].dropna(), current[name].dropna()
        if regime == "p_value":
            expected = ks_2samp(ref, cur).pvalue
            assert by_column[name]["method"] == "K-S p_value"
        else:
            expected = wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
            assert by_column[name]["method"] == "Wasserstein distance (normed)"
        assert by_column[name]["score"] == pytest.approx(expected, rel=1e-9)
    if regime == "p_value":
        counts = [(reference.experiment_group == "treatment").sum()]
        counts.append((current.experiment_group == "treatment").sum())
        _, p_value = proportions_ztest(counts, [len(reference), len(current)])
        assert by_column["experiment_group"]["method"] == "Z-test p_value"
        assert by_column["experiment_group"]["score"] == pytest.approx(p_value, rel=1e-9)


def test_constant_and_empty_columns_give_verdicts_and_no_nan(trained):
    reference = frame(trained.model, 800, seed=31)
    current = frame(trained.model, 600, seed=32)
    for f in (reference, current):
        f["total_carts"] = 1.0  # constant, the same on both sides
    reference["experiment_group"] = "treatment"
    current["experiment_group"] = "treatment"
    calm = compare(reference, current, "constant").summary.to_dict()
    columns = {c["column"]: c for c in calm["columns"]}
    assert columns["total_carts"]["drifted"] is False
    assert columns["experiment_group"]["drifted"] is False
    json.dumps(calm, allow_nan=False)
    current["experiment_group"] = "control"  # a constant that changed
    current["session_duration_minutes"] = np.nan  # a column that emptied out
    moved = compare(reference, current, "moved").summary.to_dict()
    columns = {c["column"]: c for c in moved["columns"]}
    assert columns["experiment_group"]["drifted"] is True
    duration = columns["session_duration_minutes"]
    assert duration["drifted"] is True and duration["method"] == "missing values"
    assert duration["missing_share"] == {"reference": pytest.approx(0.03, abs=0.03), "current": 1.0}
    json.dumps(moved, allow_nan=False)


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Five months of cart sessions in DuckDB; a model trained on the first three."""
    root = tmp_path_factory.mktemp("monitored")
    settings = Settings(data_dir=root / "data", train_through="2019-12")
    write_warehouse(settings.warehouse_path, cart_sessions(6000, seed=41, months=WINDOW + LATER))
    train_local(settings, params=FAST, n_boot=5)
    return Settings(data_dir=root / "data")


def drift(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str):
    for key in ("ECOM_MODEL_ID", "ECOM_MODELS_DIR", "ECOM_TRAIN_THROUGH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    return CliRunner().invoke(app, ["drift", *args])


def test_drift_reports_each_month_after_the_training_window(monitored, monkeypatch):
    result = drift(monitored, monkeypatch)
    assert result.exit_code == 0, result.output
    out = monitored.drift_dir
    latest = strict_json(out / "latest.json")
    assert [s["label"] for s in latest["slices"]] == list(LATER)
    assert latest["training_months"] == list(WINDOW)
    assert latest["reference_rows"] == 1000 and latest["reference"] == "sample"
    assert latest["html"] == "drift_2020-02.html"
    for piece in latest["slices"]:
        assert piece["method_regime"] == "p_value"
        # The same generator: nothing moved. Each test still flags 5% of columns by chance
        # (here total_views in 2020-02, p = 0.01), so a slice is judged by the data set's
        # share of drifted columns, as Evidently does, not by one column.
        assert piece["dataset_drifted"] is False and piece["drifted_count"] <= 1
        assert [c["column"] for c in piece["columns"]] == list(drift_data.COLUMNS)
        for column in piece["columns"]:
            assert set(column) >= {"column", "method", "threshold", "score", "drifted"}
        single = strict_json(out / piece["json"])
        assert single["slices"] == [piece] and single["model_id"] == latest["model_id"]
        html = (out / piece["html"]).read_text()
        assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500]
        assert not re.search(r"<script[^>]+src=[\"']https?:", html)  # self-contained
    assert "K-S p_value" in result.output and "abandonment_probability" in result.output
    # The files hold exactly the summary's model; latest.md is the same run for people.
    assert DriftSummary.model_validate_json((out / "latest.json").read_text()).to_dict() == latest
    # The run is kept whole in runs/<when>/, beside every earlier one.
    (kept,) = (out / "runs").iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z", kept.name)
    assert strict_json(kept / "summary.json") == latest
    assert {p.name for p in kept.iterdir()} == {"summary.json"} | {
        name for piece in latest["slices"] for name in (piece["html"], piece["json"])
    }
    # Each column says where it sits on each side (the app's words about a drift use it).
    views = next(c for c in latest["slices"][0]["columns"] if c["column"] == "total_views")
    assert views["center"]["statistic"] == "median"
    group = next(c for c in latest["slices"][0]["columns"] if c["column"] == "experiment_group")
    assert group["center"]["statistic"] == "share of treatment"
    assert 0 < group["center"]["current"] < 1
    markdown = (out / "latest.md").read_text()
    assert [line for line in markdown.splitlines() if line.startswith("## ")] == [
        f"## {label}" for label in LATER
    ]


def test_drift_shift_month_and_window_reference(monitored, monkeypatch):
    real = (monitored.drift_dir / "latest.json").read_bytes()  # the previous test's real run
    runs_before = set((monitored.drift_dir / "runs").iterdir())
    result = drift(monitored, monkeypatch, "--shift", "--month", "2020-Feb")
    assert result.exit_code == 0, result.output
    # A demonstration writes its own summary and never replaces the latest real check.
    assert (monitored.drift_dir / "latest.json").read_bytes() == real
    shift = strict_json(monitored.drift_dir / "latest-shift.json")
    (piece,) = shift["slices"]
    assert piece["label"] == "2020-02-shifted" and piece["shifted"] is True
    (kept,) = set((monitored.drift_dir / "runs").iterdir()) - runs_before
    assert kept.name.endswith("-shift")
    assert strict_json(kept / "summary.json") == shift
    assert "## 2020-02-shifted" in (monitored.drift_dir / "latest-shift.md").read_text()
    assert set(piece["drifted_columns"]) >= SHIFTED
    assert not UNTOUCHED & set(piece["drifted_columns"])
    assert (monitored.drift_dir / "drift_2020-02-shifted.html").exists()
    result = drift(monitored, monkeypatch, "--month", "2019-11", "--reference", "window")
    assert result.exit_code == 0, result.output
    summary = strict_json(monitored.drift_dir / "latest.json")
    assert summary["reference"] == "window" and summary["reference_rows"] > 1000
    (piece,) = summary["slices"]
    assert piece["label"] == "2019-11" and piece["method_regime"] == "distance"
    failing = drift(monitored, monkeypatch, "--shift", "--month", "2020-02", "--fail-on-drift")
    assert failing.exit_code == 1


def test_drift_errors_say_what_to_do(monitored, monkeypatch, tmp_path: Path):
    result = drift(monitored, monkeypatch, "--month", "2021-01")
    assert result.exit_code == 2 and "No cart sessions for 2021-01" in result.output
    assert "2019-10, 2019-11, 2019-12, 2020-01, 2020-02" in result.output
    result = drift(monitored, monkeypatch, "--month", "January")
    assert result.exit_code == 2 and "not a month" in result.output
    # A warehouse with nothing after the window: a clear error; --shift still demonstrates.
    only_window = Settings(data_dir=tmp_path / "data")
    write_warehouse(only_window.warehouse_path, cart_sessions(1500, seed=43, months=WINDOW))
    monkeypatch.setenv("ECOM_MODELS_DIR", str(monitored.models_dir))
    result = CliRunner().invoke(app, ["drift", "--data-dir", str(only_window.data_dir)])
    assert result.exit_code == 2, result.output
    assert "No cart sessions after the model's training window (through 2019-12)" in result.output
    assert "--shift" in result.output
    result = CliRunner().invoke(app, ["drift", "--shift", "--data-dir", str(only_window.data_dir)])
    assert result.exit_code == 0, result.output
    assert "2019-12-shifted" in result.output
    # No model at all.
    monkeypatch.delenv("ECOM_MODELS_DIR")
    result = CliRunner().invoke(app, ["drift", "--data-dir", str(only_window.data_dir)])
    assert result.exit_code == ModelError.exit_code and "run `ecom train` first" in result.output


def test_imports_stay_light():
    """The modules the API imports (registry, artifact, risk, trees) add nothing beyond
    numpy/xgboost/stdlib, and the card's data adds pydantic only (no Jinja2: training renders
    the card); the CLI and the drift package import Evidently only when a report runs
    (`import evidently` takes seconds). One fresh interpreter checks all three."""
    code = (
        "import sys, xgboost; before = set(sys.modules); "
        "import pipeline.serving.registry, pipeline.serving.artifact, pipeline.serving.risk, "
        "pipeline.serving.trees; "
        "extra = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "assert extra == {'pipeline'}, extra; "
        "import pipeline.serving.card; "
        "extra = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "extra -= set(sys.stdlib_module_names); "
        "assert extra <= {'pipeline', 'pydantic', 'pydantic_core', 'typing_extensions', "
        "'annotated_types', 'typing_inspection'}, extra; "
        "import pipeline.cli, pipeline.drift; "
        "assert 'evidently' not in sys.modules, 'evidently imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
