"""The scoring API's reference from its OpenAPI schema (`api.main.create_app(...).openapi()`).

Rendered as plain Markdown (no Swagger UI, nothing fetched): an endpoint table, one section per
operation (parameters, request body, responses), then every schema the operations use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from json_schema import (
    anchor_for,
    definition,
    escape,
    json_block,
    literal,
    paragraphs,
    type_text,
)

METHODS = ("get", "post", "put", "patch", "delete")


def load_openapi() -> dict[str, Any]:
    """The schema of an app built with default settings, read from nothing but the code."""
    from api.main import create_app
    from pipeline.settings import Settings

    return create_app(Settings(_env_file=None)).openapi()


def _link(name: str) -> str:
    return f"[{name}](#{anchor_for('schema', name)})"


def _operations(spec: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec.get("paths", {}).items()
        for method, op in item.items()
        if method in METHODS
    ]


def _op_anchor(method: str, path: str) -> str:
    return anchor_for(method, path)


def _parameters(op: Mapping[str, Any]) -> str:
    params = op.get("parameters") or []
    if not params:
        return ""
    rows = ["| name | in | type | required | description |", "|---|---|---|---|---|"]
    for p in params:
        schema = p.get("schema", {})
        default = f" Default: {literal(schema['default'])}." if "default" in schema else ""
        rows.append(
            f"| `{p['name']}` | {p['in']} | {escape(type_text(schema, _link))} | "
            f"{'yes' if p.get('required') else 'no'} | {escape(p.get('description', ''))}{default} |"
        )
    return "**Parameters**\n\n" + "\n".join(rows)


def _content(content: Mapping[str, Any]) -> list[str]:
    parts = []
    for media, body in content.items():
        schema = body.get("schema", {})
        parts.append(f"- `{media}`: {escape(type_text(schema, _link))}{_inline_fields(schema)}")
        if "example" in body:
            example = body["example"]
            block = (
                f"```text\n{example.rstrip()}\n```"
                if isinstance(example, str)
                else json_block(example)
            )
            parts.append("\n".join("    " + line for line in block.splitlines()))
    return parts


def _inline_fields(schema: Mapping[str, Any]) -> str:
    """The fields of an object schema written in place (a multipart form), in one line."""
    if "$ref" in schema or not schema.get("properties"):
        return ""
    required = set(schema.get("required", ()))
    fields = [
        f"`{name}` ({escape(type_text(prop, _link))}"
        f"{', required' if name in required else ''}) {escape(prop.get('description', ''))}"
        for name, prop in schema["properties"].items()
    ]
    return " with " + "; ".join(f.strip() for f in fields)


def _request_body(op: Mapping[str, Any]) -> str:
    body = op.get("requestBody")
    if not body:
        return ""
    head = "**Request body**" + (" (required)" if body.get("required") else "")
    lines = [head, ""]
    if body.get("description"):
        lines += [paragraphs(body["description"]), ""]
    return "\n".join(lines + _content(body.get("content", {})))


def _responses(op: Mapping[str, Any]) -> str:
    rows = ["| status | meaning | body |", "|---|---|---|"]
    for status, response in op.get("responses", {}).items():
        content = response.get("content", {})
        body = "; ".join(
            f"`{media}`: {escape(type_text(c.get('schema', {}), _link))}"
            for media, c in content.items()
        )
        rows.append(f"| {status} | {escape(response.get('description', ''))} | {body or '–'} |")
    return "**Responses**\n\n" + "\n".join(rows)


def _security(spec: Mapping[str, Any], op: Mapping[str, Any]) -> str:
    names = [name for requirement in op.get("security", []) for name in requirement]
    schemes = spec.get("components", {}).get("securitySchemes", {})
    if not names:
        return "No key needed."
    return " ".join(
        f"Key: `{schemes[n].get('name', n)}` {schemes[n].get('in', '')}. "
        f"{escape(schemes[n].get('description', ''))}".strip()
        for n in names
        if n in schemes
    )


def operation(spec: Mapping[str, Any], method: str, path: str, op: Mapping[str, Any]) -> str:
    parts = [
        f"### `{method.upper()} {path}` {{#{_op_anchor(method, path)}}}",
        f"**{escape(op.get('summary', ''))}**",
        paragraphs(op.get("description", "")),
        _security(spec, op),
        _parameters(op),
        _request_body(op),
        _responses(op),
    ]
    return "\n\n".join(p for p in parts if p)


def render(spec: Mapping[str, Any]) -> str:
    """The whole reference as Markdown (headings from level 2)."""
    info = spec.get("info", {})
    ops = _operations(spec)
    table = ["| endpoint | what it does | key |", "|---|---|---|"]
    for method, path, op in ops:
        key = "yes" if op.get("security") else "no"
        link = f"[`{method.upper()} {path}`](#{_op_anchor(method, path)})"
        table.append(f"| {link} | {escape(op.get('summary', ''))} | {key} |")
    schemas = spec.get("components", {}).get("schemas", {})
    parts = [
        f"## {escape(info.get('title', 'API'))}, version {info.get('version', '')}",
        paragraphs(info.get("description", "")),
        f"OpenAPI {spec.get('openapi', '')}.",
        "\n".join(table),
        "## Endpoints",
        *(operation(spec, m, p, op) for m, p, op in ops),
        "## Schemas",
        *(
            definition(name, schema, _link, anchor=anchor_for("schema", name))
            for name, schema in schemas.items()
        ),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"
