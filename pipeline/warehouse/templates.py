"""The project's fixed queries outside dbt: the Jinja2 templates of sql/, rendered for an engine.

Each query is one file (sql/readout/group_totals.sql, sql/model/training_set.sql, ...) that
calls the dialect's macros by the names dbt models use (`type_int64()`,
`epoch_microseconds(ts)`, ...; pipeline.warehouse.dialect), so a template reads like a dbt
model and runs on DuckDB and BigQuery alike. Values come in as named parameters; an unknown
name is an error, never an empty string in the SQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from pipeline.settings import SQL_DIR
from pipeline.warehouse.dialect import Dialect, Engine, dialect_named


@cache
def environment(engine: Engine) -> jinja2.Environment:
    """One environment per engine: sql/ as the loader, the engine's macros as globals."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SQL_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )
    env.globals.update(dialect_named(engine).macros())
    return env


def render(name: str, dialect: Dialect | Engine, **params: Any) -> str:
    """sql/<name> (e.g. "readout/weekly_looks.sql") for `dialect`, with `params` filled in."""
    engine = dialect.engine if isinstance(dialect, Dialect) else dialect
    return environment(engine).get_template(name).render(**params).strip() + "\n"


def template_names() -> list[str]:
    """Every query template (sql/bqml's BigQuery ML steps included)."""
    return sorted(environment("duckdb").list_templates(extensions=["sql"]))
