"""BigQuery ML: the rendered SQL (names, options, features) and the import of an export.
No emulator runs BigQuery ML, so the statements are checked as text and the import path runs
on a folder shaped like EXPORT MODEL's output."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from pipeline.errors import InputError, WarehouseError
from pipeline.model import bqml
from pipeline.model.train import TRAIN_PARAMS
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES
from pipeline.settings import Settings
from tests.model.conftest import bqml_like_export
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401 (fixture)

# What each BigQuery ML option must say, written independently of bqml.OPTION_FOR_PARAM.
EXPECTED_OPTIONS = {
    "model_type": "'BOOSTED_TREE_CLASSIFIER'",
    "max_iterations": "100",
    "max_tree_depth": "4",
    "learn_rate": "0.1",
    "early_stop": "false",
    "data_split_method": "'CUSTOM'",
    "data_split_col": "'is_eval'",
    "subsample": "1.0",
    "l2_reg": "1.0",
    "l1_reg": "0.0",
    "min_split_loss": "0.0",
    "min_tree_child_weight": "1",
    "tree_method": "'HIST'",
    "num_parallel_tree": "1",
    "colsample_bytree": "1.0",
    "booster_type": "'GBTREE'",
    "input_label_cols": "['abandoned_cart']",
}


@pytest.fixture
def bq_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "gcp_project": "acme-growth",
            "bq_gold_dataset": "shop_gold",
            "gcs_bucket": "acme-ml",
        }
    )


def test_every_template_renders_with_names_filled(bq_settings):
    for step in bqml.STEPS:
        sql = bqml.render(step, bq_settings)
        assert "$" not in sql, step
        assert "`acme-growth.shop_gold.abandonment_model`" in sql, step
    assert "gs://acme-ml/models/abandonment_model" in bqml.render("export_model", bq_settings)
    assert "`acme-growth.shop_gold.fct_cart_sessions`" in bqml.render("create_model", bq_settings)
    assert "`acme-growth.shop_gold.cart_session_predictions`" in bqml.render("predict", bq_settings)
    assert "ml.explain_predict(" in bqml.render("explain_predict", bq_settings)
    assert "ml.global_explain(" in bqml.render("global_explain", bq_settings)
    assert "ml.evaluate(" in bqml.render("evaluate", bq_settings)


def test_options_equal_the_local_parameters(bq_settings):
    options = bqml.rendered_options(bqml.render("create_model", bq_settings))
    for name, value in EXPECTED_OPTIONS.items():
        assert options[name] == value, name
    # And straight from the local dict: any change to TRAIN_PARAMS reaches the SQL.
    assert options["max_iterations"] == str(TRAIN_PARAMS["n_estimators"])
    assert options["max_tree_depth"] == str(TRAIN_PARAMS["max_depth"])
    assert float(options["learn_rate"]) == TRAIN_PARAMS["learning_rate"]
    assert float(options["l2_reg"]) == TRAIN_PARAMS["reg_lambda"]
    changed = bqml.model_options({**TRAIN_PARAMS, "max_depth": 6})
    assert changed["max_tree_depth"] == "6"


def test_unmapped_local_parameter_is_refused():
    with pytest.raises(Exception, match="no BigQuery ML option for local parameter"):
        bqml.model_options({**TRAIN_PARAMS, "max_bin": 128})


def test_feature_list_equals_the_contract(bq_settings):
    for step in ("create_model", "evaluate", "predict", "explain_predict"):
        sql = bqml.render(step, bq_settings)
        assert ", ".join(FEATURES) in sql, step
    assert bqml.rendered_features(bqml.render("create_model", bq_settings)) == list(FEATURES)
    create = bqml.render("create_model", bq_settings)
    assert "when 'treatment' then 1" in create and "when 'control' then 0" in create
    assert re.search(r"to_hex\(md5\(concat\('42\|', session_id\)\)\)", create)


def test_names_come_from_settings():
    with pytest.raises(InputError, match="ECOM_GCP_PROJECT"):
        bqml.render("create_model", Settings(gcp_project=None))
    with pytest.raises(InputError, match="ECOM_GCS_BUCKET"):
        bqml.render("export_model", Settings(gcp_project="p", gcs_bucket=None))


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any BigQuery client creation fails the test: settings must be refused before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("a BigQuery client was created before the settings were checked")

    monkeypatch.setattr(bqml, "client", refuse)
    monkeypatch.setattr("google.cloud.bigquery.Client", refuse)


@pytest.mark.parametrize(
    ("update", "setting"),
    [
        ({"gcp_project": None, "gcs_bucket": "acme-ml"}, "ECOM_GCP_PROJECT"),
        # The bucket is only used by the last step: it must still be checked before the first.
        ({"gcs_bucket": None}, "ECOM_GCS_BUCKET"),
    ],
)
def test_missing_setting_stops_before_any_client(bq_settings, no_client, update, setting):
    with pytest.raises(InputError, match=setting):
        bqml.train_bqml(bq_settings.model_copy(update=update), n_boot=10)


def test_cli_missing_bucket_is_a_message_not_a_traceback(bq_settings, no_client, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    monkeypatch.setenv("ECOM_DATA_DIR", str(bq_settings.data_dir))
    monkeypatch.setenv("ECOM_GCP_PROJECT", "acme-growth")
    result = CliRunner().invoke(app, ["train", "--engine", "bqml"])
    assert result.exit_code == InputError.exit_code, result.output
    assert "ECOM_GCS_BUCKET" in result.output and "Traceback" not in result.output


def test_auth_failure_is_an_input_error_with_the_login_advice(bq_settings, monkeypatch):
    """The real google-auth lookup, failing the way it does on a machine without credentials
    (a credentials file that does not exist is checked first, with no network involved)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bq_settings.data_dir / "none.json"))
    with pytest.raises(InputError) as caught:
        bqml.train_bqml(bq_settings, n_boot=10)
    message = " ".join(str(caught.value).split())
    assert "gcloud auth application-default login" in message
    assert "ECOM_GCP_PROJECT" in message
    from google.auth.exceptions import DefaultCredentialsError

    assert isinstance(caught.value.__cause__, DefaultCredentialsError)


@pytest.mark.emulator
def test_failed_step_is_a_warehouse_error_naming_it(bq_settings, bq_emulator):  # noqa: F811
    """The emulator runs no BigQuery ML: CREATE MODEL fails there as an API error, which must
    come back as a WarehouseError naming the step, with nothing imported."""
    settings = bq_settings.model_copy(
        update={"bq_api_endpoint": bq_emulator, "gcp_project": EMULATOR_PROJECT}
    )
    with pytest.raises(WarehouseError, match="step create_model failed"):
        bqml.train_bqml(settings, n_boot=10)
    assert not (settings.models_dir / artifact.MODEL_NAME).exists()


def test_import_of_an_export(trained, tmp_path: Path):
    """A legacy-binary multi:softprob export becomes our model folder; the loader serves it."""
    from pipeline.model.train import load_training_set

    data = load_training_set(trained.settings)
    export = tmp_path / "export"
    booster = bqml_like_export(export, data.X, data.y, means={"session_duration_minutes": 12.0})
    result = bqml.import_export(
        export,
        trained.settings,
        bqml_results={"ml_evaluate": [{"roc_auc": 0.6}]},
        n_boot=10,
        out_dir=tmp_path / "imported",
    )
    model = artifact.load_model(result.model_dir)
    assert model.objective == "multi:softprob" and model.card["engine"] == "bqml"
    assert model.card["evaluation"]["ml_evaluate"] == [{"roc_auc": 0.6}]
    assert model.card["rows"]["total"] == len(data)
    assert model.metadata["features"]["session_duration_minutes"]["mean"] == 12.0
    imputed = data.X.copy()
    imputed[np.isnan(imputed[:, 2]), 2] = 12.0
    expected = booster.predict(xgb.DMatrix(imputed))[:, model.positive_index]
    np.testing.assert_allclose(model.predict_matrix(data.X), expected, atol=1e-7)
    # Re-saved as UBJSON: readable by xgboost versions that refuse the legacy binary.
    assert (result.model_dir / "model.bst").read_bytes()[:1] == b"{"


def test_imported_card_has_a_time_split_comparable_to_local(trained, tmp_path: Path):
    """Both engines' cards carry the same two evaluations: the bqml card's time split is the
    local run's (same rows, same parameters, same seed), and says which booster it scored."""
    from pipeline.model.report import metrics_lines
    from pipeline.model.train import load_training_set, train_local

    data = load_training_set(trained.settings)
    export = tmp_path / "export"
    bqml_like_export(export, data.X, data.y)
    imported = bqml.import_export(
        export, trained.settings, n_boot=10, out_dir=tmp_path / "imported"
    ).card
    local = train_local(trained.settings, n_boot=10, out_dir=tmp_path / "local").card
    assert set(imported["evaluation"]) >= {"random_split", "time_split"}
    time_bqml, time_local = imported["evaluation"]["time_split"], local["evaluation"]["time_split"]
    # The rows, computed here from the data: test = the last month, train = earlier months
    # without the test month's users.
    last = data.session_month == max(data.session_month)
    earlier_users_ok = ~np.isin(data.user_id, data.user_id[last])
    assert time_bqml["test_rows"] == int(last.sum()) == time_local["test_rows"]
    assert time_bqml["train_rows"] == int((~last & earlier_users_ok).sum())
    assert time_bqml["model"] == time_local["model"]
    assert time_bqml["baselines"] == time_local["baselines"]
    assert "not by BigQuery ML" in time_bqml["booster"]
    assert "shipped booster" in imported["evaluation"]["random_split"]["booster"]
    text = "\n".join(metrics_lines(imported))
    assert "time split" in text and "not by BigQuery ML" in text


def test_the_training_window_reaches_the_create_model_sql(bq_settings):
    sql = bqml.render("create_model", bq_settings.model_copy(update={"train_through": "2020-01"}))
    assert "where session_month <= '2020-01'" in sql
    assert "session_month <=" not in bqml.render("create_model", bq_settings)


def test_an_imported_version_is_registered_with_its_booster_in_the_id(trained, tmp_path: Path):
    """Same data and parameters but another exported booster is another version (BigQuery
    ML's trainer version is not recorded anywhere else); the same export again is not."""
    from pipeline.model.card import render_markdown
    from pipeline.model.train import load_training_set
    from pipeline.serving import registry

    settings = trained.settings.model_copy(update={"models_dir": tmp_path / "models"})
    data = load_training_set(settings)
    first, other = tmp_path / "export-a", tmp_path / "export-b"
    bqml_like_export(first, data.X, data.y, rounds=10)
    bqml_like_export(other, data.X, data.y, rounds=12)
    a = bqml.import_export(first, settings, n_boot=5)
    again = bqml.import_export(first, settings, n_boot=5)
    b = bqml.import_export(other, settings, n_boot=5)
    assert a.card["model_id"] == again.card["model_id"] != b.card["model_id"]
    listed = registry.list_versions(settings.models_dir)
    assert sorted(v.model_id for v in listed) == sorted({a.card["model_id"], b.card["model_id"]})
    assert all(v.engine == "bqml" for v in listed)
    assert registry.current_id(settings.models_dir) == b.card["model_id"]
    # Its card is as honest as a local one, and says who trained it.
    card = artifact.load_model(registry.resolve(settings.models_dir)).card
    assert card["trainer"].startswith("BigQuery ML") and card["decision_threshold"] == 0.5
    assert {item["topic"] for item in card["limitations"]} >= {"experiment group"}
    text = (registry.resolve(settings.models_dir) / artifact.CARD_MARKDOWN_FILE).read_text()
    assert text == render_markdown(card) and "BigQuery ML trained it" in text
