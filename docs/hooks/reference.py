"""The mkdocs hook that writes the generated reference at build time.

A page asks for generated content with a marker line, `<!-- generated: NAME -->`, which is
replaced by that generator's Markdown; the pages themselves (their titles and prose) stay
hand-written and readable on GitHub. Generated files (the output schemas' JSON, the dbt docs
site) are added to the build, so links to them are checked like any other link.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import cli_reference
import dbt_reference
import openapi_reference
import schema_reference
import settings_reference
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.reference")
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
# Where the static dbt docs site lands in the built site (linked from reference/dbt.md).
DBT_SITE = "reference/dbt-docs/index.html"
SCHEMA_DIR = "reference/" + schema_reference.FOLDER

_state: dict[str, Any] = {}


def _output_modules(config: Any) -> list[str]:
    return list(config.extra.get("output_models") or [])


def on_files(files: Files, config: Any) -> Files:
    """Add the generated files: the dbt docs site and one JSON Schema per output model."""
    folder = dbt_reference.generate()
    _state["dbt_manifest"] = dbt_reference.load_manifest(folder)
    site = (folder / dbt_reference.SITE_FILE).read_text(encoding="utf-8")
    files.append(File.generated(config, DBT_SITE, content=site))
    for _, cls in schema_reference.output_models(_output_modules(config)):
        name = f"{SCHEMA_DIR}/{schema_reference.file_name(cls)}"
        files.append(File.generated(config, name, content=schema_reference.schema_json(cls)))
    return files


GENERATORS = {
    "cli": lambda config: cli_reference.render(),
    "exit-codes": lambda config: cli_reference.exit_codes(),
    "settings": lambda config: settings_reference.render(),
    "openapi": lambda config: openapi_reference.render(openapi_reference.load_openapi()),
    "output-schemas": lambda config: schema_reference.render(_output_modules(config)),
    "dbt-models": lambda config: dbt_reference.render(_state["dbt_manifest"]),
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace each marker with its generator's Markdown; an unknown marker fails the build."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_uri}: no generator named {name!r}")
        log.debug("generating %s for %s", name, page.file.src_uri)
        return GENERATORS[name](config)

    return MARKER.sub(replace, markdown)
