"""GrowthBook's gbstats as an independent oracle: the cases run in .venv-gbstats (built by
`make gbstats`: gbstats pins numpy<2 and pandas<2, so it cannot live in the project's venv)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from pipeline.settings import REPO_ROOT
from pipeline.stats.sufficient import Paired, Proportion, SampleMean
from tests.conftest import skip_unless_ci

GBSTATS_PYTHON = REPO_ROOT / ".venv-gbstats" / "bin" / "python"
SCRIPT = REPO_ROOT / "tests" / "stats" / "gbstats_script.py"


def spec(stat: Proportion | SampleMean | Paired) -> dict[str, Any]:
    """Our sufficient statistics in the form gbstats_script.py builds gbstats' from."""
    if isinstance(stat, Proportion):
        return {"kind": "proportion", "n": stat.n, "sum": stat.successes}
    if isinstance(stat, SampleMean):
        return {"kind": "mean", "n": stat.n, "sum": stat.sum, "sum_squares": stat.sum_squares}
    return {
        "kind": "adjusted",
        "n": stat.n,
        "post": spec(stat.metric),
        "pre": spec(stat.covariate),
        "cross": stat.cross_sum,
    }


def gbstats(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """gbstats' answers to the cases, in order (one subprocess for all of them)."""
    if not GBSTATS_PYTHON.exists():
        skip_unless_ci("gbstats' venv is missing: run `make gbstats`")
    done = subprocess.run(
        [str(GBSTATS_PYTHON), str(SCRIPT)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
