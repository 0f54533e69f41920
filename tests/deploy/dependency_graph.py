"""What the lock installs for an extra, and which third-party modules a package's code reaches.

What the service may import is kept by import-linter's contracts (pyproject.toml, `make lint`);
this is what they cannot say: whether each image's extra installs every distribution its code
imports. The lock side reads uv.lock (every marker taken: a superset). The code side walks the
import graph import-linter builds (grimp) from a package's modules, marking what is reached
only through imports inside functions (lazy: needed only when such a function runs).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import grimp

from pipeline.settings import REPO_ROOT

PROJECT = "ecom-growth"
PROJECT_PACKAGES = ("pipeline", "api", "streamlit_app")


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


@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *PROJECT_PACKAGES,
        include_external_packages=True,
        exclude_type_checking_imports=True,
        cache_dir=None,  # no cache folder in the repository
    )


@cache
def _function_lines(module: str) -> frozenset[int]:
    """The lines of a project module that lie inside a function."""
    base = REPO_ROOT.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    return frozenset(
        line
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    )


def _lazy(importer: str, imported: str) -> bool:
    details = _graph().get_import_details(importer=importer, imported=imported)
    return all(d["line_number"] in _function_lines(importer) for d in details)


@dataclass
class Use:
    """Where a third-party module is imported from, and whether only lazily."""

    importers: set[str] = field(default_factory=set)
    lazy: bool = True


def modules_of(package: str) -> set[str]:
    return {package, *_graph().find_descendants(package)}


def imported_modules(starts: Iterable[str]) -> dict[str, Use]:
    """Third-party top-level modules reachable from the project modules `starts` (a module's
    parent packages run first, so they are reached with it)."""
    graph = _graph()
    lazy_at = dict.fromkeys(starts, False)  # project module -> reached only lazily
    todo = list(lazy_at)
    external: dict[str, Use] = {}
    while todo:
        module = todo.pop()
        for imported in graph.find_modules_directly_imported_by(module):
            lazy = lazy_at[module] or _lazy(module, imported)
            top = imported.partition(".")[0]
            if top in PROJECT_PACKAGES:
                parts = imported.split(".")
                for depth in range(1, len(parts) + 1):
                    target = ".".join(parts[:depth])
                    if target not in lazy_at or (lazy_at[target] and not lazy):
                        lazy_at[target] = lazy
                        todo.append(target)
            elif top not in sys.stdlib_module_names and top != "__future__":
                use = external.setdefault(top, Use())
                use.importers.add(module)
                use.lazy = use.lazy and lazy
    return external


@cache
def providers(module: str) -> frozenset[str]:
    """The installed distributions providing a top-level module (several share a namespace:
    google, dbt), or "<not installed: module>"."""
    found = importlib.metadata.packages_distributions().get(module)
    return frozenset(map(canonical, found) if found else [f"<not installed: {module}>"])
