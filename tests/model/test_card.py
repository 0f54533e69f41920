"""The honest model card: intended use, limitations with measured numbers, evaluation data,
calibration, decision threshold and risk bands, in model_card.json and model_card.md."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import precision_score, recall_score

from pipeline.model import card
from pipeline.model.train import train_local
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES
from pipeline.serving.risk import DEFAULT_THRESHOLDS, thresholds_for
from pipeline.settings import Settings
from tests.model.conftest import FAST, cart_sessions, write_warehouse

MONTHS = ("2019-10", "2019-11", "2019-12", "2020-01")


def write_sessions_table(path: Path, sessions: dict, seed: int) -> dict[str, np.ndarray]:
    """gold.fact_user_sessions for the cart sessions plus sessions without a cart, with
    purchases and injected purchases drawn here; returns the columns for checking."""
    rng = np.random.default_rng(seed)
    n = len(sessions["session_id"])
    purchased = ~np.asarray(sessions["abandoned_cart"])
    treatment = np.asarray(sessions["experiment_group"]) == "treatment"
    purchases = np.where(purchased, rng.integers(1, 4, n), 0)
    # Injection happens in Treatment only: some purchases, sometimes all of them.
    injected = np.where(treatment & purchased, rng.integers(0, 4, n), 0).clip(0, purchases)
    extra = 500  # browsing sessions with purchases but no cart: outside the cart population
    columns = {
        "experiment_group": np.concatenate([sessions["experiment_group"], ["treatment"] * extra]),
        "session_month": np.concatenate([sessions["session_month"], ["2019-10"] * extra]),
        "total_carts": np.concatenate([sessions["total_carts"], np.zeros(extra, int)]),
        "total_purchases": np.concatenate([purchases, np.ones(extra, int)]),
        "total_injected_purchases": np.concatenate([injected, np.ones(extra, int)]),
    }
    with duckdb.connect(str(path)) as con:
        frame = pa.table(  # noqa: F841 (read by DuckDB's replacement scan below)
            {
                k: pa.array(np.asarray(v), pa.string() if v.dtype.kind in "OU" else pa.int64())
                for k, v in columns.items()
            }
        )
        con.execute("create or replace table gold.fact_user_sessions as select * from frame")
    return {k: np.asarray(v) for k, v in columns.items()}


@pytest.fixture(scope="module")
def carded(tmp_path_factory: pytest.TempPathFactory):
    """A model trained through 2019-12 on a warehouse that has gold.fact_user_sessions."""
    root = tmp_path_factory.mktemp("carded")
    settings = Settings(data_dir=root / "data", train_through="2019-Dec")
    sessions = cart_sessions(4000, seed=11, months=MONTHS)
    write_warehouse(settings.warehouse_path, sessions)
    facts = write_sessions_table(settings.warehouse_path, sessions, seed=3)
    result = train_local(settings, params=FAST, n_boot=20)
    return settings, sessions, facts, result


def test_the_injected_only_share_is_measured_in_the_training_window(carded):
    _, _, facts, result = carded
    in_window = facts["session_month"] <= "2019-12"
    purchased = in_window & (facts["total_carts"] >= 1) & (facts["total_purchases"] > 0)
    only = purchased & (facts["total_injected_purchases"] == facts["total_purchases"])
    treatment = facts["experiment_group"] == "treatment"
    (group,) = [item for item in result.card["limitations"] if item["topic"] == "experiment group"]
    measured = group["injected_purchases"]
    assert measured["purchased_sessions"] == int(purchased.sum())
    assert measured["injected_only_sessions"] == int(only.sum()) > 0
    assert measured["share"] == pytest.approx(only.sum() / purchased.sum())
    assert measured["treatment_share"] == pytest.approx(
        (only & treatment).sum() / (purchased & treatment).sum()
    )
    assert f"{measured['share']:.1%} of the {int(purchased.sum()):,} purchased" in group["text"]


def test_the_training_window_is_the_months_up_to_through(carded):
    settings, sessions, _, result = carded
    months = np.asarray(sessions["session_month"])
    assert result.card["data_window"]["months"] == ["2019-10", "2019-11", "2019-12"]
    assert result.card["data_window"]["through"] == "2019-12"
    assert result.card["rows"]["total"] == int((months <= "2019-12").sum())
    full = train_local(
        Settings(data_dir=settings.data_dir), params=FAST, n_boot=5, out_dir=settings.data_dir / "x"
    )
    assert full.card["rows"]["total"] == len(months)
    assert full.card["model_id"] != result.card["model_id"]  # other data, other model


def test_decision_threshold_and_risk_bands_against_independent_numbers(carded):
    settings, _, _, result = carded
    c = result.card
    assert c["decision_threshold"] == 0.5 == c["decision_policy"]["threshold"]
    assert c["risk_thresholds"] == DEFAULT_THRESHOLDS == thresholds_for(c)
    assert "not tuned" in c["decision_policy"]["how_chosen"]
    # The random split's test rows, scored again by the shipped booster.
    from pipeline.model.train import load_training_set

    data = load_training_set(settings)
    model = artifact.load_model(result.model_dir)
    y, p = data.y[data.is_eval], model.predict_matrix(data.X[data.is_eval])
    at = c["decision_policy"]["at_threshold"]["random_split"]
    assert at["precision_abandoned"] == pytest.approx(precision_score(y, p >= 0.5))
    assert at["recall_abandoned"] == pytest.approx(recall_score(y, p >= 0.5))
    assert at["flagged_share"] == pytest.approx(np.mean(p >= 0.5))
    bands = {b["band"]: b for b in c["evaluation"]["random_split"]["risk_bands"]}
    high = p >= 0.8
    assert bands["high"]["rows"] == int(high.sum())
    assert sum(b["rows"] for b in bands.values()) == y.size
    medium = (p >= 0.5) & ~high
    if medium.any():
        assert bands["medium"]["observed_abandonment"] == pytest.approx(y[medium].mean())


def test_calibration_summary_equals_the_table_it_summarizes(carded):
    c = carded[3].card
    table = c["evaluation"]["time_split"]["model"]["calibration"]
    rows = np.array([b["rows"] for b in table])
    gaps = np.abs([b["mean_predicted"] - b["observed_rate"] for b in table])
    summary = c["calibration"]["time_split"]
    assert summary["expected_calibration_error"] == pytest.approx((gaps * rows).sum() / rows.sum())
    big = rows >= 0.01 * rows.sum()
    assert summary["max_gap"] == pytest.approx(gaps[big].max())


def test_feature_importance_equals_shap(carded):
    import shap

    c = carded[3].card
    model = artifact.load_model(carded[3].model_dir)
    reference = artifact.read_reference(model.path)
    matrix = np.column_stack([reference[name] for name in FEATURES])
    values = shap.TreeExplainer(model.booster).shap_values(matrix)
    expected = np.abs(values).mean(axis=0)
    got = c["feature_importance"]["values"]
    np.testing.assert_allclose([got[f] for f in FEATURES], expected, rtol=1e-5, atol=1e-6)


def test_the_card_says_what_the_model_is_not_for(carded):
    c = carded[3].card
    topics = [item["topic"] for item in c["limitations"]]
    assert topics[:2] == ["whole-session features", "experiment group"]
    assert "known only once the session has ended" in " ".join(
        c["intended_use"]["not_suitable_for"]
    )
    assert set(c["evaluation_data"]["splits"]) == {"random_split", "time_split"}
    assert c["library_versions"]["xgboost"]


def test_model_card_md_is_written_beside_the_json_and_reads_as_the_card(carded):
    folder = carded[3].model_dir
    on_disk = json.loads((folder / artifact.CARD_FILE).read_text())
    text = (folder / artifact.CARD_MARKDOWN_FILE).read_text()
    assert text == card.render_markdown(on_disk)
    for heading in (
        "## Intended use",
        "## Limitations",
        "### Random split",
        "### Time split",
        "## Decision threshold",
        "## Risk bands",
        "## Library versions",
    ):
        assert heading in text
    assert on_disk["model_id"] in text.splitlines()[0]
    assert "logistic regression" in text and "majority class" in text


def test_an_older_card_still_renders(carded):
    """Cards of earlier releases lack the new sections: the readable card leaves them out."""
    old = {
        k: v
        for k, v in carded[3].card.items()
        if k in ("model", "engine", "trained_at", "features", "rows", "evaluation")
    }
    text = card.render_markdown(old)
    assert "## Limitations" not in text and "### Random split" in text
    assert card.render_markdown({}).startswith("# Model card")


def test_a_warehouse_without_the_sessions_table_says_not_measured(trained):
    (group,) = [i for i in trained.model.card["limitations"] if i["topic"] == "experiment group"]
    assert "not measured" in group["text"] and "fact_user_sessions" in group["text"]


def test_a_bad_training_window_is_an_input_error(settings, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["train", "--through", "Smarch"])
    assert result.exit_code == 2 and "not a month" in result.output
    write_warehouse(settings.warehouse_path, cart_sessions(300, seed=1))
    result = CliRunner().invoke(app, ["train", "--through", "2019-01"])
    assert result.exit_code == 3 and "no cart sessions up to 2019-01" in result.output
