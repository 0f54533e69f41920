"""The warehouse's models from dbt itself: `dbt docs generate` (static, empty catalog: no
warehouse needs to be built) gives the lineage site and the manifest the reference page reads.

The output is cached under dbt/target/docs-site/ by a hash of the dbt project's files, so a
second build (or `mkdocs serve`) does not run dbt again until the project changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from json_schema import escape, paragraphs

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
CACHE = DBT_DIR / "target" / "docs-site"
# What `dbt docs generate` writes that the site uses: the lineage site (manifest and catalog
# embedded, so it opens from the file system) and the manifest this module reads.
SITE_FILE = "static_index.html"
MANIFEST = "manifest.json"
LAYERS = {
    "staging": "silver",
    "intermediate": "silver",
    "marts": "gold",
    "scoring": "gold (scoring)",
}


def project_hash() -> str:
    """A hash of everything dbt reads (project, profiles, models, macros, tests) and dbt's
    version, so the cache is redone exactly when its output could change."""
    import dbt.version

    digest = hashlib.sha256(dbt.version.__version__.encode())
    for path in sorted(DBT_DIR.rglob("*")):
        parts = path.relative_to(DBT_DIR).parts
        if path.is_file() and parts[0] not in {"target", "logs"} and path.name != ".user.yml":
            digest.update(path.relative_to(DBT_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def generate(cache: Path = CACHE) -> Path:
    """The folder holding the static dbt docs and the manifest, generated if out of date."""
    stamp = cache / "project.sha256"
    wanted = project_hash()
    if stamp.exists() and stamp.read_text() == wanted and (cache / SITE_FILE).exists():
        return cache
    from pipeline.settings import Settings
    from pipeline.warehouse.build import run_dbt

    with tempfile.TemporaryDirectory(prefix="ecom-dbt-docs-") as tmp:
        # A throw-away DuckDB file: with an empty catalog dbt reads no table, it only compiles.
        settings = Settings(_env_file=None, data_dir=Path(tmp), warehouse="duckdb")
        target = run_dbt(settings, "docs generate", extra=("--empty-catalog", "--static"))
        if cache.exists():
            shutil.rmtree(cache)
        cache.mkdir(parents=True)
        for name in (SITE_FILE, MANIFEST):
            shutil.copy2(target.target_path / name, cache / name)
    stamp.write_text(wanted)
    return cache


def _folder(node: dict[str, Any]) -> str:
    """`models/marts/dim_users.sql` -> `marts`."""
    parts = node["original_file_path"].split("/")
    return parts[1] if len(parts) > 2 else ""


def _layer(node: dict[str, Any]) -> str:
    return LAYERS.get(_folder(node), _folder(node))


def render(manifest: dict[str, Any]) -> str:
    """Every model: layer, materialisation, what it reads, its description and columns."""
    nodes = manifest["nodes"]
    models = sorted(
        (n for n in nodes.values() if n["resource_type"] == "model"),
        key=lambda n: (list(LAYERS).index(_folder(n)) if _folder(n) in LAYERS else 9, n["name"]),
    )
    tests = [n for n in nodes.values() if n["resource_type"] == "test"]
    unit_tests = manifest.get("unit_tests", {})
    sources = manifest.get("sources", {})

    def name_of(unique_id: str) -> str:
        item = nodes.get(unique_id) or sources.get(unique_id)
        if item is None:
            return unique_id
        if item["resource_type"] == "source":
            return f"`{item['source_name']}.{item['name']}`"
        return f"[`{item['name']}`](#{item['name']})"

    table = ["| layer | model | materialised as | reads |", "|---|---|---|---|"]
    for m in models:
        reads = ", ".join(name_of(u) for u in m["depends_on"]["nodes"]) or "–"
        table.append(
            f"| {_layer(m)} | [`{m['name']}`](#{m['name']}) | {m['config']['materialized']} "
            f"| {reads} |"
        )
    parts = [
        f"{len(models)} models, {len(tests)} data tests, {len(unit_tests)} unit tests, "
        f"{len(sources)} source table(s).",
        "\n".join(table),
        "## Models",
    ]
    for m in models:
        columns = m.get("columns", {})
        rows = ["| column | description |", "|---|---|"]
        rows += [f"| `{c}` | {escape(col.get('description', ''))} |" for c, col in columns.items()]
        parts += [
            f"### {m['name']} {{#{m['name']}}}",
            f"`{m['original_file_path']}`, {_layer(m)}, {m['config']['materialized']}.",
            paragraphs(m.get("description", "")),
            "\n".join(rows) if columns else "",
        ]
    return "\n\n".join(p for p in parts if p) + "\n"


def load_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text())
