"""Generated data shared by the generator's tests (generation is the slow part: do it once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.generate import generate

SMALL_SCALE = 0.01  # ~207k rows, about 2 s
STATS_SCALE = 0.03  # ~620k rows: large enough for the tolerances in test_statistics.py


@pytest.fixture(scope="package")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen_small")
    generate(out, scale=SMALL_SCALE, seed=42)
    return out


@pytest.fixture(scope="package")
def stats_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen_stats")
    generate(out, scale=STATS_SCALE, seed=7)
    return out
