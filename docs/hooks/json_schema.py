"""JSON Schema as Markdown: one table per object, each type written as short readable text.

Shared by the API reference (OpenAPI components) and the output schemas (pydantic's
`model_json_schema()`), so both read the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

Schema = Mapping[str, Any]
Link = Callable[[str], str]

_BOUNDS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length >= {}"),
    ("maxLength", "length <= {}"),
    ("minItems", "items >= {}"),
    ("maxItems", "items <= {}"),
)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def escape(text: str) -> str:
    """Text for a Markdown table cell or paragraph: angle brackets are not HTML, pipes do not
    split cells, new lines become spaces. Code spans are kept as they are."""
    out, last = [], 0
    text = " ".join(str(text).split())
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[last : match.start()]))
        out.append(match.group(0).replace("|", "\\|"))
        last = match.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def paragraphs(text: str) -> str:
    """Escaped text whose blank-line-separated paragraphs stay paragraphs."""
    return "\n\n".join(escape(p) for p in str(text).split("\n\n") if p.strip())


def _escape_plain(text: str) -> str:
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    return text


def literal(value: Any) -> str:
    """A JSON value as a code span."""
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def ref_name(ref: str) -> str:
    """`#/components/schemas/SessionIn` or `#/$defs/Group` -> the definition's name."""
    return ref.rsplit("/", 1)[-1]


def type_text(schema: Schema, link: Link) -> str:
    """A schema's type in a few words: `integer, >= 0, <= 100000, or null`."""
    if "$ref" in schema:
        return link(ref_name(schema["$ref"]))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [type_text(option, link) for option in schema[key]]
            return " or ".join(dict.fromkeys(options))
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return type_text(schema["allOf"][0], link)
    if "const" in schema:
        return literal(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(literal(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(type_text({**schema, "type": k}, link) for k in kind)
    if kind == "array":
        text = f"array of {type_text(schema.get('items', {}), link)}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        text = f"object of {type_text(schema['additionalProperties'], link)}"
    else:
        text = kind
    if "format" in schema:
        text += f" ({schema['format']})"
    text += "".join(f", {fmt.format(schema[key])}" for key, fmt in _BOUNDS if key in schema)
    if "pattern" in schema:
        text += f", matching `{schema['pattern']}`"
    return text


def describe(schema: Schema) -> str:
    """A property's description with its default, examples left out (the table stays short)."""
    parts = [escape(schema["description"])] if schema.get("description") else []
    if "default" in schema:
        parts.append(f"Default: {literal(schema['default'])}.")
    return " ".join(parts)


def object_table(schema: Schema, link: Link) -> str:
    """The properties of an object schema as a Markdown table."""
    properties = schema.get("properties", {})
    if not properties:
        extra = schema.get("additionalProperties")
        return "Any JSON object." if extra in (None, True) else f"An {type_text(schema, link)}."
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in properties.items():
        rows.append(
            f"| `{name}` | {escape(type_text(prop, link))} | {'yes' if name in required else 'no'}"
            f" | {describe(prop)} |"
        )
    if schema.get("additionalProperties") is True:
        rows.append("| (any other) | any | no | Further fields are allowed. |")
    if schema.get("additionalProperties") is False:
        rows.append("")
        rows.append("No other field is allowed.")
    return "\n".join(rows)


def definition(
    name: str, schema: Schema, link: Link, *, level: int = 3, anchor: str | None = None
) -> str:
    """One named definition: a heading (with an explicit anchor), its description, its table."""
    heading = f"{'#' * level} {name}" + (f" {{#{anchor}}}" if anchor else "")
    body = object_table(schema, link) if schema.get("type", "object") == "object" else ""
    if not body:
        body = f"Type: {escape(type_text(schema, link))}."
    description = escape(schema["description"]) if schema.get("description") else ""
    return "\n\n".join(part for part in (heading, description, body) if part)


def anchor_for(prefix: str, name: str) -> str:
    """An HTML id for a definition: lower case, words joined by hyphens."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{name}".lower()).strip("-")
    return slug


def json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```"
