"""The model folder and its one loader: BigQuery ML's export and local training alike."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from pipeline.errors import ModelError
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES
from tests.model.conftest import bqml_like_export, cart_sessions, design_matrix


def test_reference_export_reproduces_expected_json(reference_dir: Path):
    export = reference_dir / "bqml_export"
    expected = json.loads((export / "expected.json").read_text())
    model = artifact.load_model(export / expected["model"], features=None)
    assert model.objective == "multi:softprob"
    assert model.class_names == tuple(expected["class_names"])
    assert model.booster.num_features() == 6  # 1 (ohe) + 4 (mhe) + 1 (numeric)
    for case in expected["cases"]:
        proba = model.predict_proba([case["input"]])[0]
        np.testing.assert_allclose(proba, case["label_probs"], atol=expected["tolerance"], rtol=0)
        if "predicted_label" in case:
            assert model.class_names[int(np.argmax(proba))] == case["predicted_label"]


def test_reference_export_encodings(reference_dir: Path):
    model = artifact.load_model(
        reference_dir / "bqml_export" / "boosted_tree_classifier_model", features=None
    )
    row = model.encode([{"f1": "b", "f2": ["c", "a", "zzz"], "f3": ""}])[0]
    # f1 'b' is line 2 of 0.txt; f2 marks lines 1 ('a') and 3 ('c'); f3 missing -> mean 10.
    assert row[0] == 2 and row[5] != row[5]  # f3 stays missing until imputed
    np.testing.assert_array_equal(np.isnan(row[1:5]), [True, False, True, False])
    assert model.impute(row[None, :])[0, 5] == 10
    unseen = model.encode([{"f1": "never-seen", "f2": [], "f3": 1}])[0]
    assert np.isnan(unseen[0]) and np.isnan(unseen[1:5]).all()


def test_local_model_folder(trained):
    model = trained.model
    folder = model.path
    assert model.objective == "binary:logistic"
    assert model.feature_names == FEATURES
    assert (folder / "model.bst").exists() and (folder / "assets/model_metadata.json").exists()
    reference = artifact.read_reference(folder)
    assert list(reference) == [*FEATURES, "abandoned_cart"]
    assert len(reference["total_views"]) == 1000
    card = model.card
    assert card["rows"]["total"] == 3000
    assert card["rows"]["train"] + card["rows"]["eval"] == 3000
    assert card["parameters"]["max_depth"] == 4 and card["parameters"]["seed"] == 42
    assert len(card["training_data_fingerprint"]) == 64
    # The module's version, whichever distribution (xgboost or xgboost-cpu) installed it.
    assert card["library_versions"]["xgboost"] == xgb.__version__
    assert set(card["evaluation"]) == {"random_split", "time_split"}
    # No pickle anywhere: every file is JSON, CSV, text, Markdown or an xgboost booster.
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.suffix in {".json", ".csv", ".txt", ".md", ".bst"}, path
            assert path.read_bytes()[:1] != b"\x80", f"{path} looks like a pickle"


def test_loader_predicts_like_the_booster(trained):
    model = trained.model
    data = cart_sessions(200, seed=3)
    records = [
        {name: data[name][i] for name in FEATURES} | {"total_views": int(data["total_views"][i])}
        for i in range(200)
    ]
    X = design_matrix(data)
    expected = model.booster.predict(xgb.DMatrix(X, missing=np.nan))
    np.testing.assert_allclose(model.predict(records), expected, atol=1e-7)
    np.testing.assert_allclose(model.predict_matrix(X), expected, atol=1e-7)
    proba = model.predict_proba_matrix(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("class_names", [("1", "0"), ("0", "1"), ("false", "true")])
def test_bigquery_style_softprob_model(tmp_path: Path, class_names):
    data = cart_sessions(800, seed=5)
    X = design_matrix(data)
    y = data["abandoned_cart"].astype(int)
    booster = bqml_like_export(
        tmp_path, X, y, class_names=class_names, means={"session_duration_minutes": 12.5}
    )
    model = artifact.load_model(tmp_path)
    assert model.objective == "multi:softprob"
    assert model.class_names[model.positive_index] in ("1", "true")
    imputed = X.copy()
    imputed[np.isnan(imputed[:, 2]), 2] = 12.5
    expected = booster.predict(xgb.DMatrix(imputed))[:, model.positive_index]
    np.testing.assert_allclose(model.predict_matrix(X), expected, atol=1e-7)
    # P(abandoned) must be higher for abandoned sessions, whatever the class order.
    p = model.predict_matrix(X)
    assert p[y == 1].mean() > p[y == 0].mean() + 0.05


# ----------------------------------------------------------------------------- failures


@pytest.fixture
def model_copy(trained, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(trained.model.path, target)
    return target


def test_missing_booster(model_copy: Path):
    (model_copy / "model.bst").unlink()
    with pytest.raises(ModelError, match=r"model\.bst: booster file is missing"):
        artifact.load_model(model_copy)


def test_corrupt_booster(model_copy: Path):
    (model_copy / "model.bst").write_bytes(b"this is not a booster")
    with pytest.raises(ModelError, match=r"model\.bst: booster file is corrupt"):
        artifact.load_model(model_copy)


def test_metadata_not_matching_contract(model_copy: Path):
    path = model_copy / "assets/model_metadata.json"
    meta = json.loads(path.read_text())
    meta["feature_names"] = list(reversed(meta["feature_names"]))
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"model_metadata\.json: feature_names .* do not match"):
        artifact.load_model(model_copy)


def test_metadata_invalid_json(model_copy: Path):
    (model_copy / "assets/model_metadata.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"model_metadata\.json: model metadata is not valid"):
        artifact.load_model(model_copy)


def test_metadata_width_not_matching_booster(model_copy: Path):
    path = model_copy / "assets/model_metadata.json"
    meta = json.loads(path.read_text())
    meta["features"]["experiment_group"] = {"encode_type": "ohe"}
    (model_copy / "assets/3.txt").write_text("_null_filler\ncontrol\ntreatment\n")
    meta["features"]["total_views"] = {"encode_type": "mhe"}
    (model_copy / "assets/0_array.txt").write_text("_null_filler\na\nb\n")
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"describes 6 input columns but .*model\.bst expects 4"):
        artifact.load_model(model_copy)


def test_unknown_objective(model_copy: Path):
    X = np.random.default_rng(0).random((50, 4))
    regressor = xgb.train(
        {"objective": "reg:squarederror", "verbosity": 0}, xgb.DMatrix(X, label=X[:, 0]), 2
    )
    regressor.save_model(str(model_copy / "model.bst"))
    with pytest.raises(ModelError, match=r"model\.bst: unknown objective 'reg:squarederror'"):
        artifact.load_model(model_copy)


def test_missing_folder(tmp_path: Path):
    with pytest.raises(ModelError, match="Run `ecom train` first"):
        artifact.load_model(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("model_card.json", "{not json", r"model_card.json: the model card is not valid JSON"),
        ("model_card.json", "[1, 2]", r"model_card.json: the model card must be a JSON object"),
        (
            "assets/model_metadata.json",
            "5",
            r"model_metadata.json: model metadata must be a JSON object, got int",
        ),
    ],
)
def test_broken_files_name_themselves(trained, tmp_path: Path, relative, content, message):
    folder = tmp_path / "model"
    shutil.copytree(trained.model.path, folder)
    (folder / relative).write_text(content)
    with pytest.raises(ModelError, match=message):
        artifact.load_model(folder)


@pytest.mark.parametrize("mean", ["ten", None, True, "nan", [1]])
def test_a_non_numeric_mean_names_the_feature(trained, tmp_path: Path, mean):
    folder = tmp_path / "model"
    shutil.copytree(trained.model.path, folder)
    path = folder / artifact.METADATA_FILE
    metadata = json.loads(path.read_text())
    metadata["features"]["total_views"]["mean"] = mean
    path.write_text(json.dumps(metadata))
    if mean is None:  # no mean: nothing to impute, loads
        assert artifact.load_model(folder).columns[0].mean is None
        return
    with pytest.raises(ModelError, match=r"feature 'total_views' has a non-numeric or non-finite"):
        artifact.load_model(folder)


def test_model_id_comes_from_the_card_or_the_booster(trained, tmp_path: Path):
    assert trained.model.model_id == trained.model.card["model_id"]
    assert trained.model.model_id.startswith("abandonment-")
    folder = tmp_path / "export"
    shutil.copytree(trained.model.path, folder)
    (folder / artifact.CARD_FILE).unlink()
    digest = hashlib.sha256((folder / artifact.BOOSTER_FILE).read_bytes()).hexdigest()
    assert artifact.load_model(folder).model_id == f"export-{digest[:12]}"
