"""The settings reference, from `pipeline.settings.Settings`: each field's environment variable,
type, default and description, in the order the class declares them."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from json_schema import escape


def _env_names(name: str, field: Any, prefix: str) -> list[str]:
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:  # AliasChoices: the first upper-case one is the variable people set
        return [c for c in choices if isinstance(c, str) and c.isupper()] or [choices[0]]
    if isinstance(alias, str):
        return [alias]
    return [f"{prefix}{name}".upper()]


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " or ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        text = " or ".join(_type(a) for a in parts)
        return f"{text} (optional)" if len(parts) < len(typing.get_args(annotation)) else text
    names = {Path: "path", str: "text", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: Any) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "–"
    if isinstance(value, Path):
        value = value.as_posix()
    return f"`{value}`"


def render(settings_class: type | None = None) -> str:
    """A Markdown table of every setting."""
    if settings_class is None:
        from pipeline.settings import Settings as settings_class
    config = settings_class.model_config
    prefix = config.get("env_prefix", "")
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in settings_class.model_fields.items():
        env = " / ".join(f"`{n}`" for n in _env_names(name, field, prefix))
        rows.append(
            f"| {env} | {_type(field.annotation)} | {_default(field)} | "
            f"{escape(field.description or '')} |"
        )
    env_file = config.get("env_file")
    note = f"\n\nA `{env_file}` file in the working directory is read too." if env_file else ""
    return "\n".join(rows) + note + "\n"
