"""The docs' tests: the built site (tests/docs/test_site.py), the reference generators and the
benchmark results page. The generators live beside the mkdocs hook (docs/hooks/) and import
each other by module name, as mkdocs loads them, so that folder goes on the path here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import REPO_ROOT

HOOKS = REPO_ROOT / "docs" / "hooks"
if str(HOOKS) not in sys.path:
    sys.path.insert(0, str(HOOKS))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`mkdocs build --strict` of the repository's site into a temporary folder, once per run:
    the folder and what mkdocs printed."""
    site = tmp_path_factory.mktemp("site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")}
    env["NO_MKDOCS_2_WARNING"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    return site, output
