"""Training on a real DuckDB warehouse: parameters, splits, refusal of unusable sets, metrics."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score

from pipeline.errors import DataContractError
from pipeline.model.dataset import random_split, time_split
from pipeline.model.evaluate import bootstrap_interval, calibration_table, evaluate, fast_roc_auc
from pipeline.model.train import TRAIN_PARAMS, fit_booster, load_training_set, train_local
from pipeline.serving import artifact
from pipeline.serving.registry import resolve
from tests.model.conftest import FAST, cart_sessions, write_warehouse


def test_default_parameters(warehouse_settings):
    """The shipped parameters: 100 rounds, depth 4, eta 0.1, seeded, binary:logistic."""
    data = load_training_set(warehouse_settings)
    booster = fit_booster(data.X, data.y, TRAIN_PARAMS, seed=42)
    config = json.loads(booster.save_config())  # training parameters live in the config only
    train_param = config["learner"]["gradient_booster"]["tree_train_param"]
    assert booster.num_boosted_rounds() == 100
    assert int(train_param["max_depth"]) == 4
    assert float(train_param["eta"]) == pytest.approx(0.1)
    assert float(train_param["lambda"]) == 1.0 and float(train_param["min_child_weight"]) == 1.0
    assert float(train_param["subsample"]) == 1.0
    assert config["learner"]["gradient_booster"]["gbtree_train_param"]["tree_method"] == "hist"
    assert config["learner"]["objective"]["name"] == "binary:logistic"
    assert int(config["learner"]["generic_param"]["seed"]) == 42
    depths = [_depth(json.loads(tree)) for tree in booster.get_dump(dump_format="json")]
    assert max(depths) == 4
    # Same data, same seed: the same model.
    again = fit_booster(data.X, data.y, TRAIN_PARAMS, seed=42)
    np.testing.assert_array_equal(booster.inplace_predict(data.X), again.inplace_predict(data.X))


def test_train_local_writes_the_default_parameters_in_the_card(trained):
    assert trained.model.card["parameters"] == {**TRAIN_PARAMS, **FAST, "seed": 42}


def _depth(node: dict) -> int:
    return 0 if "leaf" in node else 1 + max(_depth(c) for c in node["children"])


def test_random_split_is_stratified_seeded_and_matches_python(warehouse_settings):
    data = load_training_set(warehouse_settings)
    split = random_split(data)
    for label in (0, 1):
        in_class = data.y == label
        assert split.test[in_class].sum() == in_class.sum() // 5
    # Independent re-implementation with hashlib: the first fifth by md5("<seed>|<id>").
    expected = np.zeros(len(data), dtype=bool)
    for label in (0, 1):
        idx = np.flatnonzero(data.y == label)
        keys = [hashlib.md5(f"42|{data.session_id[i]}".encode()).hexdigest() for i in idx]
        order = idx[np.argsort(keys)]
        expected[order[: idx.size // 5]] = True
    np.testing.assert_array_equal(split.test, expected)


def test_time_split_keeps_users_on_one_side(warehouse_settings):
    data = load_training_set(warehouse_settings)
    split = time_split(data)
    assert set(data.session_month[split.test]) == {"2019-12"}
    assert set(data.session_month[split.train]) <= {"2019-10", "2019-11"}
    assert not set(data.user_id[split.train]) & set(data.user_id[split.test])
    assert split.train.sum() > 0


def test_empty_training_set_stops_clearly(settings):
    write_warehouse(settings.warehouse_path, {k: [] for k in cart_sessions(1, 0)})
    with pytest.raises(DataContractError, match="fct_cart_sessions has no rows"):
        train_local(settings, params=FAST)


def test_single_class_training_set_stops_clearly(settings):
    columns = cart_sessions(200, 1)
    columns["abandoned_cart"] = np.ones(200, dtype=bool)
    write_warehouse(settings.warehouse_path, columns)
    with pytest.raises(DataContractError, match=r"single class .*all 200 sessions abandoned"):
        train_local(settings, params=FAST)
    assert not (settings.models_dir / artifact.MODEL_NAME).exists()


def test_evaluation_beats_the_majority_baseline(trained):
    report = trained.model.card["evaluation"]["random_split"]
    model, majority = report["model"], report["baselines"]["majority_class"]
    assert majority["roc_auc"] == 0.5
    assert majority["accuracy"] == pytest.approx(
        max(model["positive_rate"], 1 - model["positive_rate"]), abs=0.01
    )
    assert model["roc_auc"] > 0.55 and model["log_loss"] < majority["log_loss"]
    low, high = model["roc_auc_ci"]
    assert low < model["roc_auc"] < high


# ----------------------------------------------------------------------------- metrics


def test_metrics_against_independent_formulas():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.2, 500), 0.01, 0.99)
    out = evaluate(y, p, seed=0, n_boot=20)
    u = stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert out["roc_auc"] == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))
    assert fast_roc_auc(y, p) == pytest.approx(out["roc_auc"], abs=1e-12)
    ties = np.round(p, 1)  # heavy ties: the rank formula must average them like sklearn
    assert fast_roc_auc(y, ties) == pytest.approx(roc_auc_score(y, ties), abs=1e-12)
    assert out["brier"] == pytest.approx(np.mean((p - y) ** 2))
    manual = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert out["log_loss"] == pytest.approx(manual) == pytest.approx(log_loss(y, p))
    assert out["accuracy"] == pytest.approx(np.mean((p >= 0.5) == y))
    table = calibration_table(y, p)
    assert sum(b["rows"] for b in table) == 500
    for b in table:
        in_bin = (p >= b["bin_low"]) & ((p < b["bin_high"]) | (b["bin_high"] == 1.0))
        assert b["observed_rate"] == pytest.approx(y[in_bin].mean())
    report = out["classification_report"]
    assert report["abandoned"]["support"] == (y == 1).sum()


def test_bootstrap_interval_coverage_by_simulation():
    """Binormal scores with known AUC = Phi(d / sqrt 2): the 95% interval covers it in most
    of 60 simulated test sets (percentile bootstrap; loose bound to stay fast and stable)."""
    d, n = 0.8, 300
    truth = stats.norm.cdf(d / np.sqrt(2))
    rng = np.random.default_rng(1)
    covered = 0
    for rep in range(60):
        y = rng.integers(0, 2, n)
        score = rng.normal(d * y, 1.0)
        low, high = bootstrap_interval(y, score, fast_roc_auc, n_boot=150, seed=rep)
        covered += low <= truth <= high
    assert covered / 60 >= 0.85


def test_cli_train_and_explain(warehouse_settings, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("ECOM_DATA_DIR", str(warehouse_settings.data_dir))
    result = CliRunner().invoke(app, ["train", "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    assert "random split" in result.output and "time split" in result.output
    assert "logistic reg." in result.output and "majority" in result.output
    assert artifact.load_model(resolve(warehouse_settings.models_dir))
    result = CliRunner().invoke(app, ["explain"])
    assert result.exit_code == 0, result.output
    assert (warehouse_settings.reports_dir / "shap" / "shap_beeswarm.png").exists()


def test_cli_train_on_empty_warehouse_exits_with_the_message(settings, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    write_warehouse(settings.warehouse_path, {k: [] for k in cart_sessions(1, 0)})
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["train", "--engine", "local"])
    assert result.exit_code == DataContractError.exit_code
    assert "no rows" in result.output
    assert CliRunner().invoke(app, ["train", "--engine", "sagemaker"]).exit_code == 2
