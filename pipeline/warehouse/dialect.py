"""The SQL differences between DuckDB and BigQuery, read from dbt's own macros.

dbt/macros/cross_db.sql writes each difference once, as a dispatched macro with a `duckdb__`
and a `bigquery__` variant. The Python side renders those same variants with plain Jinja2 (no
dbt needed), so the two cannot drift apart: there is no second copy to keep in step. A `Dialect`
names one engine; its methods are the forms Python code composes, and `macros()` hands every
variant, under the name dbt models call it by, to the query templates of sql/
(pipeline.warehouse.templates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import jinja2

from pipeline.errors import WarehouseError
from pipeline.settings import DBT_PROJECT_DIR

if TYPE_CHECKING:
    from pipeline.warehouse import Warehouse

Engine = Literal["duckdb", "bigquery"]
ENGINES: tuple[Engine, ...] = ("duckdb", "bigquery")
MACROS_FILE = DBT_PROJECT_DIR / "macros" / "cross_db.sql"
MICROSECONDS_PER_DAY = 86_400_000_000


@cache
def _variants() -> dict[str, Callable[..., str]]:
    """Every macro of cross_db.sql by its full name (`duckdb__md5_hex`, ...). Defining them
    runs no dbt code: the dispatching wrappers are defined, never called."""
    try:
        source = MACROS_FILE.read_text()
    except OSError as err:
        raise WarehouseError(f"Cannot read the SQL dialect's macros {MACROS_FILE}: {err}") from err
    module = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(source).module
    return {name: macro for name, macro in vars(module).items() if callable(macro)}


@cache
def engine_macros(engine: Engine) -> dict[str, Callable[..., str]]:
    """The engine's variant of every dispatched macro, by the name models call it by
    (`md5_hex`, `type_int64`, ...)."""
    prefix = f"{engine}__"
    return {
        name.removeprefix(prefix): _as_text(macro)
        for name, macro in _variants().items()
        if name.startswith(prefix)
    }


def _as_text(macro: Callable[..., str]) -> Callable[..., str]:
    def call(*args: object) -> str:
        return str(macro(*args))

    return call


@dataclass(frozen=True)
class Dialect:
    """One engine's SQL forms, every one rendered from its dbt macro."""

    engine: Engine

    def macro(self, name: str, *args: object) -> str:
        try:
            variant = engine_macros(self.engine)[name]
        except KeyError as err:
            raise WarehouseError(
                f"{MACROS_FILE} has no {self.engine}__{name} macro: add the variant."
            ) from err
        return variant(*args)

    def macros(self) -> dict[str, Callable[..., str]]:
        """What a query template may call: the engine's macro variants, plus the compositions
        below that Python code shares with the templates."""
        return {
            **engine_macros(self.engine),
            "epoch_day": self.epoch_day,
            "percentile": self.percentile,
        }

    @property
    def bigint(self) -> str:
        """The 64-bit integer type name."""
        return self.macro("type_int64")

    @property
    def double(self) -> str:
        """The 64-bit float type name."""
        return self.macro("type_double")

    def epoch_us(self, timestamp: str) -> str:
        """Exact (integer) microseconds: DuckDB's date_diff counts boundaries, not time."""
        return self.macro("epoch_microseconds", timestamp)

    def md5_hex(self, text: str) -> str:
        """Lower-case hex MD5 of a string, as hashlib's hexdigest()."""
        return self.macro("md5_hex", text)

    def cast_bigint(self, expr: str) -> str:
        """DuckDB's integer sum is HUGEINT: cast counts to the contract's 64-bit integer."""
        return f"cast({expr} as {self.bigint})"

    def cast_double(self, expr: str) -> str:
        return f"cast({expr} as {self.double})"

    def epoch_day(self, timestamp: str) -> str:
        """Whole UTC days since 1970-01-01 of a timestamp (null stays null), a 64-bit integer."""
        return self.cast_bigint(f"floor({self.epoch_us(timestamp)} / {MICROSECONDS_PER_DAY}.0)")

    def percentile(self, column: str, share: float, source: str, alias: str = "value") -> str:
        """A select returning one row, `alias`: the `share` percentile (linear interpolation,
        as numpy's default) of `column` over `source`."""
        if not 0 <= share <= 1:
            raise ValueError(f"a percentile share lies in [0, 1], got {share!r}")
        return self.macro("percentile_select", column, repr(float(share)), source, alias)


DUCKDB = Dialect("duckdb")
BIGQUERY = Dialect("bigquery")
DIALECTS: dict[str, Dialect] = {d.engine: d for d in (DUCKDB, BIGQUERY)}


def dialect_named(engine: str) -> Dialect:
    """The dialect of an engine name (settings.warehouse / Warehouse.engine)."""
    try:
        return DIALECTS[engine]
    except KeyError as err:
        raise WarehouseError(
            f"No SQL dialect for warehouse engine {engine!r}: use one of {sorted(DIALECTS)} "
            "(ECOM_WAREHOUSE)."
        ) from err


def dialect_for(wh: Warehouse) -> Dialect:
    """The dialect of a connected warehouse."""
    return dialect_named(wh.engine)
