"""Markdown from Jinja2 templates: one environment for every output rendered for people.

A template lives beside the code that renders it, in its package's `templates/` folder
(pipeline/model/templates/model_card.md.j2, pipeline/drift/templates/drift_summary.md.j2).
Undefined names fail loudly; block tags leave no blank lines of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2


def template(package: str, name: str, **filters: Callable[..., Any]) -> jinja2.Template:
    """`name` from `package`'s templates/ folder, with the renderer's own filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    env.filters.update(filters)
    return env.get_template(name)
