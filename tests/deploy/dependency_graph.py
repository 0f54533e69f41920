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
from dataclasses import dataclass, field
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


class _ImportCollector(ast.NodeVisitor):
    """Import statements of one file: (dotted module, inside a function?), TYPE_CHECKING blocks
    (only type checkers run them) left out."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.depth = 0
        self.found: list[tuple[str, bool]] = []

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(alias.name, self.depth > 0) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            parent = parts[: len(parts) - node.level + 1]
            base = ".".join([*parent, base] if base else parent)
        self.found.append((base, self.depth > 0))
        self.found += [(f"{base}.{alias.name}", self.depth > 0) for alias in node.names]


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    collector = _ImportCollector(package)
    collector.visit(ast.parse(path.read_text()))
    return collector.found


@dataclass
class Use:
    """Where a third-party module is imported from, and whether only inside functions (lazy:
    needed only when such a function runs)."""

    importers: set[str] = field(default_factory=set)
    lazy: bool = True


def _files(entry: str | Path) -> list[Path]:
    """An entry: a package folder (every file in it) or one file, relative to the repository."""
    path = REPO_ROOT / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _module_name(path: Path) -> str:
    if not path.is_relative_to(REPO_ROOT):
        return path.stem
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(entries: Iterable[str | Path]) -> dict[str, Use]:
    """Third-party modules reachable from the entries' files. A project module is
    followed wherever it is imported; one reached only from inside functions is lazy, and so is
    everything it imports."""
    todo = [(path, _module_name(path), False) for entry in entries for path in _files(entry)]
    # A module is walked once eagerly; a lazily reached one is walked again if reached eagerly.
    walked: dict[Path, bool] = {}
    external: dict[str, Use] = {}
    while todo:
        path, module, lazy_here = todo.pop(0)
        if path in walked and (walked[path] is False or lazy_here):
            continue
        walked[path] = lazy_here
        for name, in_function in _imports(path, module):
            lazy = lazy_here or in_function
            top = name.partition(".")[0]
            if top in PROJECT_PACKAGES:
                if (target := _module_file(name)) is not None:
                    todo.append((target, name, lazy))
            elif top not in sys.stdlib_module_names and top != "__future__":
                use = external.setdefault(name, Use())
                use.importers.add(module)
                use.lazy = use.lazy and lazy
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


def distributions_imported(entries: Iterable[str | Path]) -> dict[str, Use]:
    """{distribution: Use} for the entries' import graph (package folders or files). A module no installed
    distribution provides shows as "<not installed: name>"."""
    used: dict[str, Use] = {}
    for module, use in imported_modules(entries).items():
        dist = distribution_of(module)
        if dist is None:
            top = module.partition(".")[0]
            if _module_owners().get(top):
                continue  # a name imported from a module (`from pydantic import Field`)
            dist = f"<not installed: {top}>"
        merged = used.setdefault(dist, Use())
        merged.importers |= use.importers
        merged.lazy = merged.lazy and use.lazy
    return used
