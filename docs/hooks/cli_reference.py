"""The `ecom` command line's reference, from the typer app itself, and its exit codes.

typer apps are click commands (`typer.main.get_command`); typer's own Markdown writer (the
one behind `typer ... utils docs`) walks every command and sub-command.
"""

from __future__ import annotations

import re

from json_schema import escape

_HEADING = re.compile(r"^(#+) ")


def _cli_app():
    """The typer app, wherever the CLI lives (a module or a package exposing `app`)."""
    import importlib

    return importlib.import_module("pipeline.cli").app


def render() -> str:
    """Every command, its usage and options, with headings from level 2."""
    import typer
    import typer.main
    from typer.cli import get_docs_for_click

    command = typer.main.get_command(_cli_app())
    ctx = typer.Context(command, info_name="ecom")
    text = get_docs_for_click(obj=command, ctx=ctx, name="ecom", title="ecom")
    return _as_section(text)


def _as_section(text: str) -> str:
    """Headings one level down (the page has its own title); help text that is not code is
    escaped, so `<month>` stays visible instead of becoming an HTML tag."""
    out, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            out.append(line)
        elif in_code:
            out.append(line)
        elif match := _HEADING.match(line):
            out.append("#" + match.group(1) + " " + line[match.end() :])
        elif line.startswith("* "):
            out.append("* " + escape(line[2:]))
        else:
            out.append(escape(line) if line.strip() else "")
    return "\n".join(out).strip() + "\n"


def exit_codes() -> str:
    """The exit code of each domain error (pipeline.errors), as a table."""
    from pipeline import errors

    classes = [errors.EcomError, *_subclasses(errors.EcomError)]
    rows = ["| exit code | error | meaning |", "|---|---|---|"]
    for cls in sorted(classes, key=lambda c: c.exit_code):
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| {cls.exit_code} | `{cls.__name__}` | {escape(doc)} |")
    return "\n".join(rows) + "\n"


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return list(dict.fromkeys(found))
