"""Model versions: every training adds a folder, and one pointer names the version in use.

Each family has its own: `session` (the whole-session model, folder abandonment/) and `moment`
(the point-in-time model, folder moment/); every function takes it (default `session`):

    <models_dir>/abandonment/   (or moment/)
      versions/<model_id>/   a complete model folder (pipeline.serving.artifact's layout)
      current.json           {"model_id", "promoted_at", "history": [earlier current ids]}
      .lock                  taken by every writer (register, promote, rollback, prune)

Why a JSON pointer rather than a `current` symlink: it carries the history rollback needs, and
reads the same from a mounted volume or a synced bucket, where symlinks do not survive. It is
replaced atomically (temporary file + os.replace): a reader sees the old pointer or the new one,
never half of either. Training never deletes anything; `prune` is the only way versions go.

The model id is a content hash of what determines the model (training-data fingerprint,
parameters, engine, library versions), not of when it was trained: registering a retraining on
the same data again is a no-op that makes it current.

A folder an older release wrote straight into <models_dir>/abandonment/ is not lost: every
writer first moves it into versions/<its id>/ (`migrate_legacy`); readers say how to keep it.

Importable with the standard library only (xgboost loads when `promote` checks a version): the
API's supervisor resolves versions here without loading a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import ModelError
from pipeline.files import atomic_write, exclusive_lock
from pipeline.serving import card_fields
from pipeline.serving import features as session_features
from pipeline.serving import moment as moment_features
from pipeline.serving.layout import (
    BOOSTER_FILE,
    CARD_FILE,
    CARD_MARKDOWN_FILE,
    MODEL_NAME,
    REFERENCE_FILE,
)

# The model families: the seed's whole-session model (a diagnostic of finished sessions; its
# folder keeps the seed's name, so existing registries and ids stay valid) and the moment model
# (scores a live session at a prediction point). Each has its own versions and pointer.
SESSION = "session"
MOMENT = "moment"
FAMILIES: dict[str, str] = {SESSION: MODEL_NAME, MOMENT: "moment"}
# Each family's feature contract: the columns its versions' boosters read, in order.
FAMILY_FEATURES: dict[str, tuple[str, ...]] = {
    SESSION: session_features.FEATURES,
    MOMENT: moment_features.FEATURES,
}
VERSIONS_DIR = "versions"
POINTER_FILE = "current.json"
LOCK_FILE = ".lock"
_STAGING_PREFIX = ".staging-"
# A staging folder, or writer.write_model's temporary folder inside it: both carry the pid.
_STAGING_PID = re.compile(r"^\.+staging-(\d+)-")
ID_HEX_DIGITS = 12
# What an older release wrote straight into the model root (one model, no pointer).
LEGACY_ENTRIES = (BOOSTER_FILE, "assets", CARD_FILE, CARD_MARKDOWN_FILE, REFERENCE_FILE)


@dataclass(frozen=True)
class VersionInfo:
    """One row of `ecom models list`: what the card says about a version."""

    model_id: str
    path: Path
    engine: str | None
    trained_at: str | None
    rows: int | None
    roc_auc_random: float | None
    roc_auc_time: float | None
    is_current: bool
    problem: str | None = None  # why the card could not be read, if it could not


def model_root(models_dir: Path | str, family: str = SESSION) -> Path:
    return Path(models_dir) / family_folder(family)


def family_of(family: str) -> tuple[str, ...]:
    """A family's feature contract (checked: an unknown family is a ModelError)."""
    family_folder(family)
    return FAMILY_FEATURES[family]


def load_version(folder: Path | str, family: str = SESSION):
    """A version folder loaded against its family's contract (pipeline.serving.artifact,
    imported here: xgboost only where a model loads, not where a folder is found)."""
    from pipeline.serving.artifact import load_model

    return load_model(folder, features=family_of(family))


def family_folder(family: str) -> str:
    """A family's folder under the models directory, which is also its ids' prefix."""
    try:
        return FAMILIES[family]
    except KeyError:
        raise ModelError(
            f"Unknown model family {family!r}: use one of {', '.join(FAMILIES)}."
        ) from None


def compute_model_id(content: Mapping[str, Any], family: str = SESSION) -> str:
    """`<family folder>-<12 hex>` (`abandonment-…`, `moment-…`) from what determines the
    model (never from a timestamp)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:ID_HEX_DIGITS]
    return f"{family_folder(family)}-{digest}"


IDENTITY_KEYS = (
    "engine",
    "features",
    "parameters",
    "training_data_fingerprint",
    "library_versions",
)


def identity_of(card: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a card that determines the model, as training hashes it into the id.

    A BigQuery ML card also carries the exported booster's digest: the trainer runs in Google's
    service, whose version no library list here records, so the booster itself is the content.
    """
    identity = {key: card.get(key) for key in IDENTITY_KEYS}
    if card.get("booster_sha256"):
        identity["booster_sha256"] = card["booster_sha256"]
    return identity


# ----------------------------------------------------------------------------- reading


def _pointer_path(models_dir: Path | str, family: str = SESSION) -> Path:
    return model_root(models_dir, family) / POINTER_FILE


def read_pointer(models_dir: Path | str, family: str = SESSION) -> dict[str, Any] | None:
    """The pointer's content, or None when no model was ever made current."""
    path = _pointer_path(models_dir, family)
    if not path.exists():
        return None
    try:
        pointer = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(
            f"{path}: the current-model pointer is unreadable ({err}). Pick a version again "
            "with `ecom models list` and `ecom models promote ID`."
        ) from err
    if not isinstance(pointer, dict) or not isinstance(pointer.get("model_id"), str):
        raise ModelError(
            f"{path}: the current-model pointer has no model_id. Pick a version again with "
            "`ecom models list` and `ecom models promote ID`."
        )
    pointer.setdefault("history", [])
    return pointer


def current_id(models_dir: Path | str, family: str = SESSION) -> str | None:
    pointer = read_pointer(models_dir, family)
    return None if pointer is None else pointer["model_id"]


def version_dir(models_dir: Path | str, model_id: str, family: str = SESSION) -> Path:
    if not model_id or "/" in model_id or model_id.startswith("."):
        raise ModelError(f"{model_id!r} is not a model id. `ecom models list` shows them.")
    return model_root(models_dir, family) / VERSIONS_DIR / model_id


def _version_ids(models_dir: Path | str, family: str = SESSION) -> list[str]:
    versions = model_root(models_dir, family) / VERSIONS_DIR
    if not versions.is_dir():
        return []
    return sorted(p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))


def resolve(models_dir: Path | str, model_id: str | None = None, family: str = SESSION) -> Path:
    """The folder of `model_id`, or of the current model when None, checked to exist."""
    root = model_root(models_dir, family)
    if model_id is None:
        model_id = current_id(models_dir, family)
        if model_id is None:
            if (root / BOOSTER_FILE).exists():
                raise ModelError(
                    f"{root} holds a model in the old single-folder layout. Run `ecom models "
                    "migrate` to keep it as a version (any `ecom train` or `ecom models` write "
                    "does the same first): versions now live under versions/<model id>/."
                )
            train = "ecom train" if family == SESSION else f"ecom train --family {family}"
            raise ModelError(f"No model in {root}: run `{train}` first.")
    folder = version_dir(models_dir, model_id, family)
    if not folder.is_dir():
        known = ", ".join(_version_ids(models_dir, family)) or "none"
        raise ModelError(
            f"Model {model_id} is not in {root / VERSIONS_DIR} (known: {known}). "
            "See `ecom models list`; `ecom models rollback` or `promote` picks another."
        )
    return folder


def _read_card(folder: Path) -> dict[str, Any]:
    path = folder / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ModelError(f"{path}: the model card is missing.") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: the model card is not valid JSON ({err}).") from err
    if not isinstance(card, dict):
        raise ModelError(f"{path}: the model card must be a JSON object.")
    return card


def list_versions(models_dir: Path | str, family: str = SESSION) -> list[VersionInfo]:
    """Every version, oldest training first; a version with a broken card is listed with why.

    A broken pointer does not hide the versions (its error says to pick one from this list):
    nothing is marked current then, and `read_pointer` still raises for callers that need it.
    """
    try:
        current = current_id(models_dir, family)
    except ModelError:
        current = None
    infos = []
    for model_id in _version_ids(models_dir, family):
        folder = version_dir(models_dir, model_id, family)
        try:
            card = _read_card(folder)
        except ModelError as err:
            infos.append(
                VersionInfo(
                    model_id, folder, None, None, None, None, None, model_id == current, str(err)
                )
            )
            continue
        infos.append(
            VersionInfo(
                model_id=model_id,
                path=folder,
                engine=card.get("engine"),
                trained_at=card.get("trained_at"),
                rows=card_fields.rows_of(card),
                roc_auc_random=card_fields.roc_auc_of(card, "random_split"),
                roc_auc_time=card_fields.roc_auc_of(card, "time_split"),
                is_current=model_id == current,
            )
        )
    return sorted(infos, key=lambda v: (v.trained_at or "", v.model_id))


# ----------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _locked(models_dir: Path | str, family: str = SESSION) -> Iterator[Path]:
    """Serialize writers (two trainings, a promote during a prune) on one lock file."""
    root = model_root(models_dir, family)
    with exclusive_lock(root / LOCK_FILE):
        yield root


def _write_pointer(
    root: Path, model_id: str, history: list[str], promoted_at: str | None = None
) -> None:
    pointer = {
        "model_id": model_id,
        "promoted_at": promoted_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "history": history,
    }
    atomic_write(root / POINTER_FILE, json.dumps(pointer, indent=2) + "\n")


def _switch(root: Path, models_dir: Path | str, model_id: str, family: str = SESSION) -> None:
    """Make `model_id` current, remembering the one it replaces (for rollback).

    An unreadable pointer is set aside (current.json.broken-<time>) rather than blocking the
    promote its own error message recommends; its history is lost with it.
    """
    try:
        pointer = read_pointer(models_dir, family)
    except ModelError:
        broken = root / POINTER_FILE
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        os.replace(broken, broken.with_name(f"{POINTER_FILE}.broken-{stamp}"))
        pointer = None
    history = [] if pointer is None else list(pointer["history"])
    if pointer is not None and pointer["model_id"] != model_id:
        history.append(pointer["model_id"])
    _write_pointer(root, model_id, history)


def staging_dir(models_dir: Path | str, family: str = SESSION) -> Path:
    """A fresh folder beside the versions (same file system, so registering is a rename).

    Its name carries this process's id, so a later writer can remove it if the process died.
    """
    root = model_root(models_dir, family)
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{_STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"


def _remove_dead_staging(root: Path) -> None:
    """Remove what killed writers left: staging folders (and write_model's temporary folders
    beside them) whose process is gone, a prune's trash, a pointer's temporary file. Called
    under the lock, so no live writer owns a trash or a temporary pointer; a live process's
    staging folder is never touched."""
    for stale in root.glob(f".*{_STAGING_PREFIX.lstrip('.')}*"):
        match = _STAGING_PID.match(stale.name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)
    for trash in root.glob(".trash-*"):
        shutil.rmtree(trash, ignore_errors=True)
    for tmp in root.glob(f".{POINTER_FILE}.*.tmp"):
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _legacy_id(root: Path) -> str:
    """The id an old single-folder model would have had: its card's identity, hashed as training
    hashes it now; a card too old to carry one falls back to a hash of the booster file."""
    card: dict[str, Any] = {}
    with contextlib.suppress(ModelError):
        card = _read_card(root)
    if isinstance(card.get("model_id"), str):
        return card["model_id"]
    if card.get("training_data_fingerprint"):
        return compute_model_id(identity_of(card))
    digest = hashlib.sha256((root / BOOSTER_FILE).read_bytes()).hexdigest()
    return f"{MODEL_NAME}-legacy-{digest[:ID_HEX_DIGITS]}"


def _migrate_locked(root: Path, models_dir: Path | str, family: str = SESSION) -> str | None:
    if not (root / BOOSTER_FILE).is_file():
        return None
    model_id = _legacy_id(root)
    target = version_dir(models_dir, model_id, family)
    if not target.exists():
        # Copy, then rename: a migration killed half-way leaves the old files where they were
        # (and a dead staging folder the next writer removes), never half a version.
        staged = staging_dir(models_dir, family)
        staged.mkdir()
        for name in LEGACY_ENTRIES:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, staged / name)
            elif source.is_file():
                shutil.copy2(source, staged / name)
        card_path = staged / CARD_FILE
        if card_path.exists():
            with contextlib.suppress(ModelError):
                card = _read_card(staged)
                card.setdefault("model_id", model_id)
                card_path.write_text(json.dumps(card, indent=2) + "\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    if read_pointer(models_dir, family) is None:
        _write_pointer(root, model_id, [])
    for name in LEGACY_ENTRIES:  # only now: the version holds a full copy
        source = root / name
        if source.is_dir():
            shutil.rmtree(source)
        elif source.exists():
            source.unlink()
    return model_id


def migrate_legacy(models_dir: Path | str, family: str = SESSION) -> str | None:
    """Move a model of the old single-folder layout into versions/<id>/ (current if nothing
    else is); its id, or None when there is none. Idempotent."""
    with _locked(models_dir, family) as root:
        return _migrate_locked(root, models_dir, family)


def register(
    models_dir: Path | str, staged: Path, *, make_current: bool = True, family: str = SESSION
) -> str:
    """Move a completely written model folder into versions/<its card's model_id>/.

    The same id already there means the same training content: the staged copy is dropped and
    the existing version kept (and made current), so retraining never duplicates a version.
    """
    staged = Path(staged)
    card = _read_card(staged)
    model_id = card.get("model_id")
    if not isinstance(model_id, str):
        raise ModelError(f"{staged / CARD_FILE}: the card has no model_id; cannot register.")
    with _locked(models_dir, family) as root:
        _remove_dead_staging(root)
        _migrate_locked(root, models_dir, family)  # an old model is kept as a version, not buried
        target = version_dir(models_dir, model_id, family)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            os.replace(staged, target)
        if make_current:
            _switch(root, models_dir, model_id, family)
    return model_id


def save_version(
    models_dir: Path | str, write: Callable[[Path], Path], family: str = SESSION
) -> Path:
    """Write a new model with `write(folder)` (e.g. pipeline.model.writer.write_model), register it, make
    it current; the version's folder. A failed write leaves the versions and pointer as they
    were."""
    staged = write(staging_dir(models_dir, family))
    return version_dir(models_dir, register(models_dir, staged, family=family), family)


def promote(models_dir: Path | str, model_id: str, family: str = SESSION) -> Path:
    """Make an existing version current, after checking that it loads."""
    with _locked(models_dir, family) as root:
        _migrate_locked(root, models_dir, family)
        folder = resolve(models_dir, model_id, family)
        load_version(folder, family)  # a version that cannot serve is never made current
        _switch(root, models_dir, model_id, family)
    return folder


def rollback(models_dir: Path | str, family: str = SESSION) -> str:
    """Return to the version that was current before the current one; its id."""
    with _locked(models_dir, family) as root:
        _migrate_locked(root, models_dir, family)
        pointer = read_pointer(models_dir, family)
        if pointer is None:
            raise ModelError(f"No current model in {root}: nothing to roll back.")
        history = list(pointer["history"])
        while history:
            candidate = history.pop()
            if (
                version_dir(models_dir, candidate, family).is_dir()
                and candidate != pointer["model_id"]
            ):
                _write_pointer(root, candidate, history)
                return candidate
        raise ModelError(
            f"{pointer['model_id']} has no earlier version to roll back to. "
            "`ecom models list` shows the versions; `ecom models promote ID` picks one."
        )


def prune(
    models_dir: Path | str, keep: int, *, protect: Iterable[str] = (), family: str = SESSION
) -> list[str]:
    """Delete all but the `keep` most recently trained versions; never the current one, nor
    those in `protect` (e.g. a version pinned with ECOM_MODEL_ID elsewhere)."""
    if keep < 1:
        raise ModelError(f"--keep must be at least 1, got {keep}.")
    with _locked(models_dir, family) as root:
        _remove_dead_staging(root)
        _migrate_locked(root, models_dir, family)
        read_pointer(models_dir, family)  # a broken pointer raises: it may name any version
        versions = list_versions(models_dir, family)
        kept = (
            {v.model_id for v in versions[-keep:]}
            | {v.model_id for v in versions if v.is_current}
            | set(protect)
        )
        removed = [v.model_id for v in versions if v.model_id not in kept]
        trash = root / f".trash-{uuid.uuid4().hex}"
        trash.mkdir()
        for model_id in removed:
            os.replace(
                version_dir(models_dir, model_id, family), trash / model_id
            )  # atomic per version
        shutil.rmtree(trash, ignore_errors=True)
        pointer = read_pointer(models_dir, family)
        if pointer is not None and removed:
            history = [m for m in pointer["history"] if m not in removed]
            _write_pointer(root, pointer["model_id"], history, pointer.get("promoted_at"))
    return removed
