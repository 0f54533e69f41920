"""Shared fixtures: every test works in its own data directory, never in the repo's data/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.settings import REPO_ROOT, Settings

# Real sample rows and a real BigQuery ML export, with their provenance (PROVENANCE.md there).
REFERENCE_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "reference"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_unless_ci(reason: str) -> None:
    """Skip for a missing optional tool, but only outside CI: under CI=true it must run."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings rooted in a fresh temporary data directory."""
    for key in list(os.environ):
        if key.startswith("ECOM_"):
            monkeypatch.delenv(key)
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The real reference files, kept in the repository so that a fresh clone runs every test."""
    return REFERENCE_FIXTURES
