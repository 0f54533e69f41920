"""The output schemas: every pydantic class a package lists in its `OUTPUT_MODELS` tuple.

Each class gets a section on one page (its fields and the definitions it uses) and its JSON
Schema as a file beside the page, `schemas/<name>.schema.json`, from `model_json_schema()`.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from json_schema import anchor_for, definition, escape, paragraphs

FOLDER = "schemas"


def output_models(modules: list[str]) -> list[tuple[str, type]]:
    """(module, class) for each class in each module's OUTPUT_MODELS, in the order given.

    A module that does not import, or has no OUTPUT_MODELS, is an error: the list in
    mkdocs.yml names only packages that publish their outputs."""
    found = []
    for name in modules:
        module = importlib.import_module(name)
        classes = getattr(module, "OUTPUT_MODELS", None)
        if classes is None:
            raise ValueError(f"{name} has no OUTPUT_MODELS tuple (listed in mkdocs.yml)")
        found += [(name, cls) for cls in classes]
    return found


def file_name(cls: type) -> str:
    """`ModelCard` -> `model-card.schema.json`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower() + ".schema.json"


def schema_of(cls: Any) -> dict[str, Any]:
    return cls.model_json_schema()


def schema_json(cls: Any) -> str:
    return json.dumps(schema_of(cls), indent=2, ensure_ascii=False) + "\n"


def section(module: str, cls: Any) -> str:
    """One class: heading, where it lives, its description, its JSON Schema file, its tables."""
    schema = schema_of(cls)
    prefix = cls.__name__

    def link(name: str) -> str:
        return f"[{name}](#{anchor_for(prefix, name)})"

    top = dict(schema)
    defs = top.pop("$defs", {})
    parts = [
        f"## {cls.__name__} {{#{anchor_for('output', cls.__name__)}}}",
        f"`{module}.{cls.__name__}`; JSON Schema: [{file_name(cls)}]({FOLDER}/{file_name(cls)}).",
        paragraphs(schema.get("description", "")),
        definition("Fields", {**top, "description": ""}, link, level=3, anchor=None),
        *(
            definition(name, sub, link, level=4, anchor=anchor_for(prefix, name))
            for name, sub in defs.items()
        ),
    ]
    return "\n\n".join(p for p in parts if p)


def render(modules: list[str]) -> str:
    models = output_models(modules)
    if not models:
        return "No package lists its output models yet (`extra.output_models` in mkdocs.yml).\n"
    index = ["| output | class | JSON Schema |", "|---|---|---|"]
    for module, cls in models:
        summary = escape((cls.__doc__ or "").strip().split("\n\n")[0])
        index.append(
            f"| [{cls.__name__}](#{anchor_for('output', cls.__name__)}) | `{module}` — {summary} "
            f"| [{file_name(cls)}]({FOLDER}/{file_name(cls)}) |"
        )
    return "\n\n".join(["\n".join(index), *(section(m, c) for m, c in models)]) + "\n"
