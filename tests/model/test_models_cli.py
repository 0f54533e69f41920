"""`ecom models list | show | promote | rollback | prune | migrate`, and `--model-id` pins."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ModelError
from pipeline.serving import artifact, registry
from tests.serving.test_registry import _fake_version


@pytest.fixture
def cli_models(trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three versions of the shared trained model under a fresh data dir (env points there)."""
    for key in ("ECOM_MODEL_ID", "ECOM_MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("ECOM_DATA_DIR", str(data))
    for i, stamp in enumerate(("2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00")):
        _fake_version(data / "models", trained.model.path, f"abandonment-v{i}", stamp)
    registry.register(data / "models", _staged_real(trained, data / "models"))
    return data / "models"


def _staged_real(trained, models_dir: Path) -> Path:
    import shutil

    staged = registry.staging_dir(models_dir)
    shutil.copytree(trained.model.path, staged)
    return staged


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def _row(output: str, model_id: str) -> str:
    (line,) = [line for line in output.splitlines() if model_id in line and "│" in line]
    return line


def test_list_shows_every_version_with_metrics_and_the_current_marker(cli_models, trained):
    result = run("models", "list")
    assert result.exit_code == 0, result.output
    real = trained.model.model_id
    card = trained.model.card
    row = _row(result.output, real)
    assert "current" in row and "local" in row and "3,000" in row
    assert f"{card['evaluation']['random_split']['model']['roc_auc']:.4f}" in row
    assert f"{card['evaluation']['time_split']['model']['roc_auc']:.4f}" in row
    assert "current" not in _row(result.output, "abandonment-v0")
    # Oldest training first.
    order = [m for m in re.findall(r"abandonment-\w+", result.output) if m != "abandonment"]
    assert order.index("abandonment-v0") < order.index("abandonment-v1")


def test_show_prints_the_readable_card_and_json_on_request(cli_models, trained):
    result = run("models", "show")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"# Model card: {trained.model.model_id}")
    assert "## Limitations" in result.output and "## Decision threshold" in result.output
    as_json = run("models", "show", "abandonment-v0", "--json")
    assert json.loads(as_json.output)["model_id"] == "abandonment-v0"


def test_promote_rollback_prune_through_the_cli(cli_models, trained):
    real = trained.model.model_id
    result = run("models", "promote", "abandonment-v0")
    assert result.exit_code == 0 and f"(was {real})" in result.output
    assert registry.current_id(cli_models) == "abandonment-v0"
    result = run("models", "rollback")
    assert result.exit_code == 0 and f"current model: {real}" in result.output
    result = run("models", "prune", "--keep", "1")
    assert result.exit_code == 0, result.output
    assert {v.model_id for v in registry.list_versions(cli_models)} == {real}
    assert "nothing to remove" in run("models", "prune", "--keep", "1").output


def test_errors_are_messages_with_exit_codes(cli_models, tmp_path: Path, monkeypatch):
    result = run("models", "promote", "abandonment-nope")
    assert result.exit_code == ModelError.exit_code
    assert "is not in" in result.output and "ecom models list" in result.output
    assert run("models", "prune", "--keep", "0").exit_code == ModelError.exit_code
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "empty"))
    result = run("models", "list")
    assert result.exit_code == 0 and "run `ecom train`" in result.output
    assert run("models", "show").exit_code == ModelError.exit_code
    assert run("models", "rollback").exit_code == ModelError.exit_code


def test_a_pinned_version_is_marked_kept_and_used(cli_models, trained, monkeypatch):
    monkeypatch.setenv("ECOM_MODEL_ID", "abandonment-v0")
    assert "pinned" in _row(run("models", "list").output, "abandonment-v0")
    assert run("models", "show").output.startswith("# Model card: abandonment-v0")
    result = run("models", "prune", "--keep", "1")
    assert "abandonment-v1" in result.output
    assert {v.model_id for v in registry.list_versions(cli_models)} == {
        "abandonment-v0",
        trained.model.model_id,
    }


def test_explain_uses_the_model_id_it_is_given(cli_models, trained):
    result = run("explain", "--model-id", "abandonment-v0")
    assert result.exit_code == 0, result.output
    assert "explaining abandonment-v0" in result.output
    result = run("explain", "--model-id", "abandonment-gone")
    assert result.exit_code == ModelError.exit_code and "abandonment-gone" in result.output


def test_migrate_keeps_an_old_layout(trained, tmp_path: Path, monkeypatch):
    import shutil

    data = tmp_path / "data"
    monkeypatch.setenv("ECOM_DATA_DIR", str(data))
    shutil.copytree(trained.model.path, registry.model_root(data / "models"))
    assert "old single-folder" in run("models", "show").output
    result = run("models", "migrate")
    assert result.exit_code == 0 and trained.model.model_id in result.output
    assert artifact.load_model(registry.resolve(data / "models")).model_id == trained.model.model_id


def test_the_moment_family_has_its_own_versions_and_pointer(moment_trained, tmp_path, monkeypatch):
    """--family moment lists, shows, promotes, rolls back and prunes the moment versions
    only; the session family's stay untouched; a session pin does not pin the moment family."""
    import shutil

    models = tmp_path / "data" / "models"
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ECOM_MODEL_ID", "abandonment-000000000000")
    real = moment_trained.card["model_id"]
    for name in ("moment-000000000001", real):  # the real one registered last: current
        staged = registry.staging_dir(models, "moment")
        shutil.copytree(moment_trained.folder, staged)
        if name != real:
            card = json.loads((staged / "model_card.json").read_text())
            card.update(model_id=name, trained_at="2020-01-01T00:00:00+00:00")
            (staged / "model_card.json").write_text(json.dumps(card))
        registry.register(models, staged, family="moment")
    listed = run("models", "list", "--family", "moment")
    assert listed.exit_code == 0, listed.output
    row = _row(listed.output, real)
    first_cart = moment_trained.card["evaluation"]["per_point"]["first_cart"]
    assert "current" in row and f"{first_cart['scorers']['model']['roc_auc']:.4f}" in row
    assert "ROC-AUC test, first cart" in listed.output
    shown = run("models", "show", "--family", "moment")
    assert shown.exit_code == 0 and shown.output.startswith(f"# Model card: {real}")
    assert "## Decision rule and profit" in shown.output
    promoted = run("models", "promote", "moment-000000000001", "--family", "moment")
    assert promoted.exit_code == 0, promoted.output
    assert "score --family moment" in " ".join(promoted.output.split())
    assert registry.current_id(models, "moment") == "moment-000000000001"
    assert run("models", "rollback", "--family", "moment").exit_code == 0
    assert registry.current_id(models, "moment") == real
    pruned = run("models", "prune", "--keep", "1", "--family", "moment")
    assert pruned.exit_code == 0 and "moment-000000000001" in pruned.output
    assert [v.model_id for v in registry.list_versions(models, "moment")] == [real]
    assert registry.list_versions(models) == []  # the session family: nothing touched
    # A moment version is not a session model: the session family refuses its id.
    wrong = run("models", "promote", real)
    assert wrong.exit_code != 0 and "Traceback" not in wrong.output
