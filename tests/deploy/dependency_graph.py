"""What the lock installs for an extra, and what a package's code imports.

The lock side reads uv.lock (every marker taken: a superset, so a forbidden package reachable on
any platform is caught). The code side walks the import statements of the project's own modules
from an entry package, following project imports, and maps third-party modules to the
distributions that provide them in this environment.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from pipeline.settings import REPO_ROOT

PROJECT = "ecom-growth"
PROJECT_PACKAGES = {"pipeline", "api", "streamlit_app"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def lock_packages() -> dict[str, list[dict]]:
    """Every locked package by name (a name may be locked at several versions)."""
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    packages: dict[str, list[dict]] = {}
    for package in lock["package"]:
        packages.setdefault(canonical(package["name"]), []).append(package)
    return packages


def installed_by(extras: Iterable[str]) -> set[str]:
    """Distributions `uv sync --no-dev --extra ...` installs: the closure of the project's base
    dependencies and the given extras."""
    (project,) = lock_packages()[PROJECT]
    todo = list(project.get("dependencies", []))
    for extra in extras:
        todo += project["optional-dependencies"][extra]
    seen: set[str] = set()
    seen_extras: set[tuple[str, str]] = set()
    while todo:
        dep = todo.pop()
        name = canonical(dep["name"])
        for extra in dep.get("extra", []):
            if (name, extra) not in seen_extras:
                seen_extras.add((name, extra))
                for version in lock_packages()[name]:
                    todo += version.get("optional-dependencies", {}).get(extra, [])
        if name in seen:
            continue
        seen.add(name)
        for version in lock_packages()[name]:
            todo += version.get("dependencies", [])
    seen.discard(PROJECT)
    return seen


# ---------------------------------------------------------------- imports


def _module_file(module: str) -> Path | None:
    base = REPO_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _under_type_checking(tree: ast.Module) -> set[int]:
    """Ids of import nodes that only type checkers run (`if TYPE_CHECKING:`)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    return skipped


def _imports(path: Path, module: str) -> set[str]:
    """Modules a file imports (dotted), wherever in the file, TYPE_CHECKING blocks excluded."""
    tree = ast.parse(path.read_text())
    skipped = _under_type_checking(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def imported_modules(entry_packages: Iterable[str]) -> dict[str, set[str]]:
    """Third-party modules reachable from the entry packages' files: {module: {who imports it}}."""
    todo = [
        (
            path,
            ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__"),
        )
        for package in entry_packages
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    ]
    done: set[Path] = set()
    external: dict[str, set[str]] = {}
    while todo:
        path, module = todo.pop()
        if path in done:
            continue
        done.add(path)
        for name in _imports(path, module):
            top = name.partition(".")[0]
            if top in PROJECT_PACKAGES:
                if (target := _module_file(name)) is not None:
                    todo.append((target, name))
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.setdefault(name, set()).add(module)
    return external


@cache
def _module_owners() -> dict[str, set[str]]:
    """{"google/cloud/bigquery": {"google-cloud-bigquery"}, ...}: every folder and module path
    that installed distributions' RECORD files list (nothing is imported to find out)."""
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        name = canonical(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or parts[0] == "..":
                continue
            stem = [*parts[:-1], parts[-1].removesuffix(".py")]
            for depth in range(1, len(stem) + 1):
                owners.setdefault("/".join(stem[:depth]), set()).add(name)
    return owners


def distribution_of(module: str) -> str | None:
    """The installed distribution providing a module: the longest leading part of its dotted
    name that one distribution alone provides (`google.cloud.bigquery` is
    google-cloud-bigquery's, though many distributions share `google`)."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        owners = _module_owners().get("/".join(parts[:depth]), set())
        if len(owners) == 1:
            return next(iter(owners))
    return None


def distributions_imported(entry_packages: Iterable[str]) -> dict[str, set[str]]:
    """{distribution: {project modules importing it}} for the entry packages' import graph."""
    used: dict[str, set[str]] = {}
    for module, importers in imported_modules(entry_packages).items():
        dist = distribution_of(module)
        if dist is not None:
            used.setdefault(dist, set()).update(importers)
    return used
