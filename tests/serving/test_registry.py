"""Model versions: ids stable for the same training content, an atomic pointer, rollback, prune."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest

from pipeline.errors import ModelError
from pipeline.model.train import train_local
from pipeline.serving import artifact, registry
from pipeline.settings import Settings
from tests.model.conftest import FAST, cart_sessions, write_warehouse


def _fake_version(models_dir: Path, source: Path, model_id: str, trained_at: str) -> str:
    """A copy of a real trained folder under another id (for pointer and prune tests)."""
    staged = registry.staging_dir(models_dir)
    shutil.copytree(source, staged)
    card = json.loads((staged / artifact.CARD_FILE).read_text())
    card.update(model_id=model_id, trained_at=trained_at)
    (staged / artifact.CARD_FILE).write_text(json.dumps(card))
    return registry.register(models_dir, staged)


@pytest.fixture
def three_versions(trained, tmp_path: Path) -> Path:
    models_dir = tmp_path / "models"
    for i, stamp in enumerate(("2026-01-01", "2026-02-01", "2026-03-01")):
        _fake_version(models_dir, trained.model.path, f"abandonment-v{i}", stamp)
    return models_dir


def test_training_twice_on_the_same_data_gives_the_same_id_and_bytes(settings: Settings):
    write_warehouse(settings.warehouse_path, cart_sessions(600, seed=5))
    first = train_local(settings, params=FAST, n_boot=5)
    booster_bytes = (first.model_dir / artifact.BOOSTER_FILE).read_bytes()
    second = train_local(settings, params=FAST, n_boot=5)
    assert first.card["model_id"] == second.card["model_id"]
    assert first.model_dir == second.model_dir
    assert (second.model_dir / artifact.BOOSTER_FILE).read_bytes() == booster_bytes
    assert [v.model_id for v in registry.list_versions(settings.models_dir)] == [
        first.card["model_id"]
    ]
    # Other parameters are another model; the first one is kept, not overwritten.
    third = train_local(settings, params={**FAST, "max_depth": 2}, n_boot=5)
    assert third.card["model_id"] != first.card["model_id"]
    assert registry.current_id(settings.models_dir) == third.card["model_id"]
    assert (first.model_dir / artifact.BOOSTER_FILE).read_bytes() == booster_bytes
    assert (
        artifact.load_model(registry.resolve(settings.models_dir)).model_id
        == third.card["model_id"]
    )


def test_promote_rollback_and_list(three_versions: Path):
    models_dir = three_versions
    assert registry.current_id(models_dir) == "abandonment-v2"
    registry.promote(models_dir, "abandonment-v0")
    assert registry.resolve(models_dir).name == "abandonment-v0"
    assert registry.rollback(models_dir) == "abandonment-v2"
    assert registry.rollback(models_dir) == "abandonment-v1"
    assert registry.rollback(models_dir) == "abandonment-v0"
    with pytest.raises(ModelError, match="no earlier version"):
        registry.rollback(models_dir)
    listed = registry.list_versions(models_dir)
    assert [v.model_id for v in listed] == ["abandonment-v0", "abandonment-v1", "abandonment-v2"]
    assert [v.is_current for v in listed] == [True, False, False]
    assert all(v.roc_auc_random is not None and v.rows == 3000 for v in listed)


def test_prune_keeps_the_newest_and_the_current(three_versions: Path):
    models_dir = three_versions
    registry.promote(models_dir, "abandonment-v0")
    removed = registry.prune(models_dir, keep=1)
    assert removed == ["abandonment-v1"]
    assert {v.model_id for v in registry.list_versions(models_dir)} == {
        "abandonment-v0",
        "abandonment-v2",
    }
    # The pruned version left the history too: rollback skips to one that exists.
    assert registry.rollback(models_dir) == "abandonment-v2"
    with pytest.raises(ModelError, match="at least 1"):
        registry.prune(models_dir, keep=0)


def test_unknown_missing_and_broken(three_versions: Path, tmp_path: Path):
    with pytest.raises(ModelError, match=r"run `ecom train` first"):
        registry.resolve(tmp_path / "empty")
    with pytest.raises(ModelError, match=r"abandonment-nope is not in .*known: abandonment-v0"):
        registry.resolve(three_versions, "abandonment-nope")
    with pytest.raises(ModelError, match="not a model id"):
        registry.resolve(three_versions, "../etc")
    pointer = registry.model_root(three_versions) / registry.POINTER_FILE
    pointer.write_text("{not json")
    with pytest.raises(ModelError, match=r"current.json: the current-model pointer is unreadable"):
        registry.current_id(three_versions)
    # A broken card is listed with its problem instead of breaking the listing.
    card = registry.version_dir(three_versions, "abandonment-v1") / artifact.CARD_FILE
    card.write_text("[1, 2")
    pointer.write_text(json.dumps({"model_id": "abandonment-v2", "history": []}))
    problems = {v.model_id: v.problem for v in registry.list_versions(three_versions)}
    assert problems["abandonment-v1"] and "not valid JSON" in problems["abandonment-v1"]
    with pytest.raises(ModelError, match=r"model_card.json: the model card is not valid JSON"):
        registry.promote(three_versions, "abandonment-v1")
    assert registry.current_id(three_versions) == "abandonment-v2"


def test_old_single_folder_layout_says_to_retrain(trained, tmp_path: Path):
    root = registry.model_root(tmp_path / "models")
    shutil.copytree(trained.model.path, root)
    with pytest.raises(ModelError, match="old single-folder layout"):
        registry.resolve(tmp_path / "models")


def _promote_many(models_dir: str, model_id: str, rounds: int) -> None:
    for _ in range(rounds):
        registry.promote(Path(models_dir), model_id)


def test_concurrent_promotions_leave_a_valid_pointer(three_versions: Path):
    """Two real processes switch the pointer 30 times each: it is always whole and valid."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_promote_many, args=(str(three_versions), model_id, 30))
        for model_id in ("abandonment-v0", "abandonment-v1")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    pointer = registry.read_pointer(three_versions)
    assert pointer is not None and pointer["model_id"] in {"abandonment-v0", "abandonment-v1"}
    assert not list(registry.model_root(three_versions).glob(".current.json.*"))


# ----------------------------------------------------------------------------- review fixes


def _legacy_copy(trained_dir: Path, models_dir: Path) -> Path:
    """An older release's layout: one model straight in the model root, its card without id."""
    root = registry.model_root(models_dir)
    shutil.copytree(trained_dir, root)
    card = json.loads((root / artifact.CARD_FILE).read_text())
    del card["model_id"]
    (root / artifact.CARD_FILE).write_text(json.dumps(card))
    return root


def test_an_old_single_folder_model_becomes_a_version_with_the_id_training_gives(
    trained, tmp_path: Path
):
    models_dir = tmp_path / "models"
    root = _legacy_copy(trained.model.path, models_dir)
    model_id = registry.migrate_legacy(models_dir)
    # The card's identity hashed as training hashes it: the id the model has today.
    assert model_id == trained.model.model_id
    assert registry.current_id(models_dir) == model_id
    assert not (root / artifact.BOOSTER_FILE).exists() and not (root / "assets").exists()
    migrated = artifact.load_model(registry.resolve(models_dir))
    assert migrated.model_id == model_id
    assert migrated.booster.save_raw() == trained.model.booster.save_raw()
    assert registry.migrate_legacy(models_dir) is None  # idempotent


def test_training_over_an_old_layout_keeps_the_old_model_for_rollback(trained, tmp_path: Path):
    models_dir = tmp_path / "models"
    _legacy_copy(trained.model.path, models_dir)
    _fake_version(models_dir, trained.model.path, "abandonment-new", "2030-01-01")
    assert registry.current_id(models_dir) == "abandonment-new"
    assert registry.rollback(models_dir) == trained.model.model_id


def test_promote_repairs_a_broken_pointer_and_list_still_lists(three_versions: Path):
    pointer = registry.model_root(three_versions) / registry.POINTER_FILE
    pointer.write_text("{half a pointer")
    listed = registry.list_versions(three_versions)  # the error says to pick from this list
    assert len(listed) == 3 and not any(v.is_current for v in listed)
    with pytest.raises(ModelError, match="unreadable"):
        registry.prune(three_versions, keep=1)  # it might name any version: delete nothing
    assert len(registry.list_versions(three_versions)) == 3
    registry.promote(three_versions, "abandonment-v1")
    assert registry.current_id(three_versions) == "abandonment-v1"
    kept = list(registry.model_root(three_versions).glob("current.json.broken-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{half a pointer"


def test_prune_never_removes_a_protected_version(three_versions: Path):
    removed = registry.prune(three_versions, keep=1, protect=["abandonment-v0"])
    assert removed == ["abandonment-v1"]


def _stage_and_hang(models_dir: str, ready: str) -> None:
    """A training that dies while writing: a staging folder and write_model's temporary
    folder inside the model root (named as write_model names it), then it hangs."""
    import tempfile
    import time

    staged = registry.staging_dir(Path(models_dir))
    partial = Path(tempfile.mkdtemp(prefix=f".{staged.name}-", dir=staged.parent))
    (partial / "model.bst").write_bytes(b"half a booster")
    staged.mkdir()
    Path(ready).write_text(str(partial))
    time.sleep(600)


def test_a_killed_training_leaves_versions_intact_and_its_leftovers_are_removed(
    three_versions: Path, tmp_path: Path
):
    import os
    import signal
    import time

    ready = tmp_path / "ready"
    # fork: the child only touches files, and needs no second import of the whole stack.
    worker = multiprocessing.get_context("fork").Process(
        target=_stage_and_hang, args=(str(three_versions), str(ready))
    )
    worker.start()
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the training process never started writing"
    root = registry.model_root(three_versions)
    leftovers = sorted(p.name for p in root.glob(".*staging-*"))
    assert len(leftovers) == 2
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL
    # What readers see is untouched by the dead writer.
    assert registry.current_id(three_versions) == "abandonment-v2"
    assert artifact.load_model(registry.resolve(three_versions))
    # The next writer clears what it left, and only that.
    mine = registry.staging_dir(three_versions)
    mine.mkdir()
    registry.promote(three_versions, "abandonment-v0")
    registry.register(three_versions, _copy_as(three_versions, "abandonment-v3"))
    names = {p.name for p in root.glob(".*staging-*")}
    assert not names & set(leftovers)
    assert mine.name in names  # a live process's staging folder is never removed
    assert registry.current_id(three_versions) == "abandonment-v3"


def _copy_as(models_dir: Path, model_id: str) -> Path:
    source = registry.resolve(models_dir, "abandonment-v0")
    staged = registry.staging_dir(models_dir)
    shutil.copytree(source, staged)
    card = json.loads((staged / artifact.CARD_FILE).read_text())
    card.update(model_id=model_id, trained_at="2031-01-01")
    (staged / artifact.CARD_FILE).write_text(json.dumps(card))
    return staged


def _register_all(models_dir: str, staged: list[str]) -> None:
    for folder in staged:
        registry.register(Path(models_dir), Path(folder))


def test_concurrent_trainings_lose_no_version_and_no_history(three_versions: Path):
    """Two real processes register 15 new versions each at the same time: all 30 exist, and
    the pointer's history holds every one that was current before (no lost update)."""
    per_process = 15
    batches = [
        [str(_copy_as(three_versions, f"abandonment-{side}{i}")) for i in range(per_process)]
        for side in ("a", "b")
    ]
    context = multiprocessing.get_context("fork")  # file operations only in the children
    workers = [
        context.Process(target=_register_all, args=(str(three_versions), b)) for b in batches
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    ids = {v.model_id for v in registry.list_versions(three_versions)}
    new = {f"abandonment-{side}{i}" for side in "ab" for i in range(per_process)}
    assert new <= ids and len(ids) == 3 + 2 * per_process
    pointer = registry.read_pointer(three_versions)
    assert pointer is not None and pointer["model_id"] in new
    before = {"abandonment-v0", "abandonment-v1", "abandonment-v2"}
    assert set(pointer["history"]) | {pointer["model_id"]} == new | before
    assert len(pointer["history"]) == 3 + 2 * per_process - 1  # each earlier current once


def test_each_family_has_its_own_versions_pointer_and_history(trained, tmp_path: Path):
    models_dir = tmp_path / "models"
    session_id = _fake_version(models_dir, trained.model.path, "abandonment-s1", "2026-01-01")
    moment_ids = []
    for i, stamp in enumerate(("2026-02-01", "2026-03-01")):
        staged = registry.staging_dir(models_dir, registry.MOMENT)
        shutil.copytree(trained.model.path, staged)
        card = json.loads((staged / artifact.CARD_FILE).read_text())
        card.update(model_id=f"moment-m{i}", trained_at=stamp)
        (staged / artifact.CARD_FILE).write_text(json.dumps(card))
        moment_ids.append(registry.register(models_dir, staged, family=registry.MOMENT))
    assert (models_dir / "moment" / "versions" / "moment-m1").is_dir()
    assert registry.current_id(models_dir) == session_id  # untouched by the other family
    assert registry.current_id(models_dir, registry.MOMENT) == "moment-m1"
    assert [v.model_id for v in registry.list_versions(models_dir, registry.MOMENT)] == moment_ids
    assert registry.rollback(models_dir, registry.MOMENT) == "moment-m0"
    with pytest.raises(ModelError, match="no earlier version"):
        registry.rollback(models_dir)  # the session family has one version only
    with pytest.raises(ModelError, match="not in"):
        registry.resolve(models_dir, "moment-m0")  # a moment id is not a session version
    assert registry.compute_model_id({"a": 1}, registry.MOMENT).startswith("moment-")
    with pytest.raises(ModelError, match="Unknown model family"):
        registry.current_id(models_dir, "basket")


def test_save_version_returns_the_familys_folder(trained, tmp_path: Path):
    models_dir = tmp_path / "models"

    def write(folder: Path) -> Path:
        shutil.copytree(trained.model.path, folder)
        card = json.loads((folder / artifact.CARD_FILE).read_text())
        (folder / artifact.CARD_FILE).write_text(json.dumps({**card, "model_id": "moment-s1"}))
        return folder

    folder = registry.save_version(models_dir, write, family=registry.MOMENT)
    assert folder == models_dir / "moment" / "versions" / "moment-s1" and folder.is_dir()
    assert registry.resolve(models_dir, family=registry.MOMENT) == folder
