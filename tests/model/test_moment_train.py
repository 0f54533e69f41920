"""`ecom train --family moment` on a warehouse of synthetic prediction points: the version's
files and identity, the time split, the calibration, the card's numbers recomputed
independently, the decision section, the readout, the CLI, and the errors it says plainly."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import DataContractError
from pipeline.model.moment.card import render_markdown
from pipeline.model.moment.report import DecisionReport, evaluation_lines
from pipeline.model.moment.train import train_moment
from pipeline.serving import moment, registry
from pipeline.serving.artifact import load_model
from pipeline.serving.calibration import read_calibration
from pipeline.serving.decision import DecisionRule, read_rule
from pipeline.serving.features import GROUP_CODES
from pipeline.serving.moment_card import MomentCard
from pipeline.settings import Settings
from tests.model.conftest import FAST_MOMENT as FAST
from tests.model.conftest import MomentTrained
from tests.model.moment_rows import MONTHS, write_moments


def warehouse_rows(settings: Settings, where: str = "true") -> dict[str, np.ndarray]:
    """fct_cart_moments rows as the test reads them: its own encoding, no project code."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.sql(
            f"select * from gold.fct_cart_moments where {where} order by session_id, "
            "prediction_point"
        ).pl()
    X = np.column_stack(
        [
            frame["experiment_group"].replace_strict(GROUP_CODES).to_numpy().astype(float)
            if name == "experiment_group"
            else frame[name].cast(float).to_numpy()
            for name in moment.FEATURES
        ]
    )
    return {
        "X": X,
        "y": frame["abandoned"].to_numpy().astype(int),
        "month": frame["session_month"].to_numpy(),
        "point": frame["prediction_point"].to_numpy(),
        "price": frame["cart_price"].to_numpy(),
    }


@pytest.fixture
def trained(moment_trained: MomentTrained) -> MomentTrained:
    return moment_trained


def test_a_version_of_the_moment_family_with_its_calibration_and_rule(trained) -> None:
    folder, card = trained.folder, trained.card
    assert folder.parent.parent == registry.model_root(trained.settings.models_dir, "moment")
    assert card["model_id"].startswith("moment-") and folder.name == card["model_id"]
    assert registry.current_id(trained.settings.models_dir, "moment") == card["model_id"]
    assert registry.current_id(trained.settings.models_dir) is None  # the session family: none
    model = load_model(folder, features=moment.FEATURES)  # what the API loads
    assert model.model_id == card["model_id"] and model.booster.num_boosted_rounds() == 20
    platt = read_calibration(folder)
    assert (platt.slope, platt.intercept) == (
        card["calibration"]["slope"],
        card["calibration"]["intercept"],
    )
    assert read_rule(folder) == DecisionRule()  # the settings' defaults
    assert (folder / "model_card.md").read_text() == render_markdown(card)
    MomentCard.model_validate(card)
    assert card["parameters"]["points"] == "pooled" and card["parameters"]["seed"] == 42


def test_the_time_split_is_by_month(trained) -> None:
    rows = warehouse_rows(trained.settings)
    card = trained.card
    assert card["data_window"] == {
        "train_months": list(MONTHS[:3]),
        "calibration_month": "2020-01",
        "test_month": "2020-02",
    }
    for part, months in (("train", MONTHS[:3]), ("calibration", MONTHS[3:4]), ("test", MONTHS[4:])):
        inside = np.isin(rows["month"], months)
        assert card["rows"][part]["rows"] == int(inside.sum())
        for point, n in card["rows"][part]["by_point"].items():
            assert n == int((inside & (rows["point"] == point)).sum())


def test_the_cards_test_metrics_recomputed_independently(trained) -> None:
    """Platt(margin) of the shipped booster on February's rows, scored by scikit-learn."""
    rows = warehouse_rows(trained.settings, "session_month = '2020-02'")
    model = load_model(trained.folder, features=moment.FEATURES)
    margin = model.booster.inplace_predict(rows["X"], missing=np.nan, predict_type="margin")
    margin = margin.astype(np.float64)
    platt = read_calibration(trained.folder)
    p = 1 / (1 + np.exp(-(platt.slope * margin + platt.intercept)))
    pooled = trained.card["evaluation"]["pooled"]
    metrics = pooled["scorers"]["model"]
    assert metrics["rows"] == rows["y"].size == pooled["rows"]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(rows["y"], p), abs=1e-9)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(rows["y"], p), abs=1e-9)
    assert metrics["brier"] == pytest.approx(np.mean((p - rows["y"]) ** 2), abs=1e-9)
    low, high = metrics["roc_auc_ci"]
    assert low < metrics["roc_auc"] < high
    first = rows["point"] == "first_cart"
    per_point = trained.card["evaluation"]["per_point"]
    assert per_point["first_cart"]["scorers"]["model"]["roc_auc"] == pytest.approx(
        roc_auc_score(rows["y"][first], p[first]), abs=1e-9
    )
    assert sum(b["rows"] for b in per_point.values()) == pooled["rows"]
    prior = pooled["scorers"]["prior_rate"]
    assert prior["roc_auc"] == 0.5 and prior["brier_skill"] == 0
    # The features carry the signal the generator put in: the model beats the prior rate.
    assert metrics["roc_auc"] > 0.7 and metrics["brier_skill"] > 0.05
    for name in ("logistic_regression", "seed_at_point", "whole_session", "model_without_history"):
        assert 0.5 < pooled["scorers"][name]["roc_auc"] <= 1


def test_the_calibration_is_a_logit_fit_on_january(trained) -> None:
    rows = warehouse_rows(trained.settings, "session_month = '2020-01'")
    model = load_model(trained.folder, features=moment.FEATURES)
    margin = model.booster.inplace_predict(rows["X"], missing=np.nan, predict_type="margin")
    margin = margin.astype(np.float64)
    reference = sm.Logit(rows["y"], sm.add_constant(margin.astype(float))).fit(disp=0, tol=1e-12)
    calibration = trained.card["calibration"]
    assert calibration["intercept"] == pytest.approx(reference.params[0], abs=1e-6)
    assert calibration["slope"] == pytest.approx(reference.params[1], abs=1e-6)
    assert calibration["fitted_on"].startswith("2020-01")


def test_the_threshold_is_chosen_on_january_and_applied_to_february(trained) -> None:
    decision = trained.card["decision"]
    best = max(decision["calibration_curve"], key=lambda r: (round(r["profit"], 9), r["threshold"]))
    assert decision["threshold"] == best["threshold"]
    assert decision["chosen_on"].startswith("2020-01's first_cart carts")
    feb = warehouse_rows(trained.settings, "session_month = '2020-02'")
    first = feb["point"] == "first_cart"
    rule = DecisionRule()
    realized = [
        y * max(price, 0) * rule.gross_margin_rate * rule.recovery_share - rule.intervention_cost
        for y, price in zip(feb["y"][first], feb["price"][first], strict=True)
    ]
    test = decision["test"]
    assert test["everyone"]["intervened"] == int(first.sum())
    assert test["everyone"]["profit"] == pytest.approx(sum(realized), abs=1e-9)
    assert test["no_one"]["profit"] == 0
    at_threshold = next(
        r for r in decision["test_curve"] if r["threshold"] == decision["threshold"]
    )
    assert test["threshold"]["profit"] == pytest.approx(at_threshold["profit"])
    assert "holdout experiment" in decision["recovery_note"]


def test_the_card_says_what_numbers_mean_and_what_is_assumed(trained) -> None:
    text = (trained.folder / "model_card.md").read_text()
    assert text.startswith(f"# Model card: {trained.card['model_id']}")
    for phrase in (
        "recovery rate is an assumption",
        "until a holdout experiment",
        "LEAKY",
        "How to read these numbers",
        "Pooled points or first carts only",
        "### At first_cart",
        "24-hour label",
    ):
        assert phrase in text, phrase
    guide = trained.card["reading_guide"]
    assert {"roc_auc", "pr_auc", "brier_skill", "calibration", "profit", "ablation"} <= set(guide)
    pooling = trained.card["pooling"]
    assert pooling["chosen"] == "pooled"
    assert set(pooling["measured"]) == {"calibration", "test"}
    assert set(pooling["measured"]["calibration"]) == {"pooled", "first_cart"}
    bands = trained.card["risk_thresholds"]
    assert 0 < bands["medium"] < bands["high"] < 1


def test_retraining_the_same_rows_is_the_same_version(trained) -> None:
    again = train_moment(trained.settings, params=FAST, n_boot=40)
    assert again.card["model_id"] == trained.card["model_id"]
    assert [v.model_id for v in registry.list_versions(trained.settings.models_dir, "moment")] == [
        trained.card["model_id"]
    ]


def test_first_cart_only_is_another_version(trained, tmp_path: Path) -> None:
    result = train_moment(trained.settings, params=FAST, n_boot=10, points="first_cart")
    assert result.card["model_id"] != trained.card["model_id"]
    assert result.card["pooling"]["chosen"] == "first_cart"
    train_rows = trained.card["rows"]["train"]["by_point"]["first_cart"]
    assert result.card["parameters"]["points"] == "first_cart" and train_rows > 0
    registry.promote(trained.settings.models_dir, trained.card["model_id"], "moment")


def test_cli_trains_prints_both_points_of_view_and_writes_the_readout(trained, monkeypatch):
    monkeypatch.setenv("ECOM_DATA_DIR", str(trained.settings.data_dir))
    result = CliRunner().invoke(app, ["train", "--family", "moment", "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for phrase in ("pooled:", "first_cart:", "LEAKY", "calibration: Platt", "ASSUMED recovery"):
        assert phrase in out, phrase
    report_dir = trained.settings.reports_dir / "moment"
    report = DecisionReport.model_validate_json((report_dir / "decision.json").read_text())
    assert report.test_month == "2020-02" and report.policies["no_one"].profit == 0
    markdown = (report_dir / "decision.md").read_text()
    assert markdown.startswith("# Decision readout: moment-")
    assert "assumption until a holdout experiment measures it" in markdown
    assert evaluation_lines(trained.card)[0].startswith("moment model (local, pooled points)")
    registry.promote(trained.settings.models_dir, trained.card["model_id"], "moment")


def test_bqml_engine_is_refused_for_the_moment_family(trained, monkeypatch):
    monkeypatch.setenv("ECOM_DATA_DIR", str(trained.settings.data_dir))
    result = CliRunner().invoke(app, ["train", "--family", "moment", "--engine", "bqml"])
    assert result.exit_code == 2 and "trains locally" in " ".join(result.output.split())


def test_a_split_without_a_month_says_which(tmp_path: Path, monkeypatch) -> None:
    settings = Settings(data_dir=tmp_path / "data", moment_test_month="2020-03")
    write_moments(settings.warehouse_path, sessions=300, seed=4)
    with pytest.raises(DataContractError, match=r"none for test .*2020-03"):
        train_moment(settings, params=FAST, n_boot=5)
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ECOM_MOMENT_TEST_MONTH", "2019-12")
    result = CliRunner().invoke(app, ["train", "--family", "moment"])
    assert result.exit_code == 2 and "must come before" in " ".join(result.output.split())


def test_a_missing_moments_table_says_to_build_the_warehouse(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["train", "--family", "moment", "--data-dir", str(settings.data_dir)]
    )
    assert result.exit_code != 0 and "ecom" in result.output and "Traceback" not in result.output


def test_card_json_is_strict(trained) -> None:
    def refuse(constant: str):
        raise AssertionError(f"model_card.json holds {constant}")

    json.loads((trained.folder / "model_card.json").read_text(), parse_constant=refuse)
