"""The Python side's SQL differences between DuckDB and BigQuery, in one place.

Python-built queries (the experiment readout, the training set) are engine-neutral SQL except
for the few expressions below; each engine's form is one field of a frozen `Dialect`, chosen by
the warehouse's `engine` attribute. The dbt project keeps its own equivalents in
dbt/macros/cross_db.sql (Jinja cannot import Python): keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pipeline.errors import WarehouseError

if TYPE_CHECKING:
    from pipeline.warehouse import Warehouse

Engine = Literal["duckdb", "bigquery"]


@dataclass(frozen=True)
class Dialect:
    """Templates with `{}` (or named) placeholders for one engine's SQL forms."""

    engine: Engine
    bigint: str  # 64-bit integer type name
    double: str  # 64-bit float type name
    epoch_us_template: str  # microseconds since the Unix epoch of a UTC timestamp
    md5_hex_template: str  # lower-case hex MD5 of a string, as hashlib's hexdigest()
    percentile_template: str  # a select of one row: the linear-interpolated percentile

    def epoch_us(self, timestamp: str) -> str:
        """Exact (integer) microseconds: DuckDB's date_diff counts boundaries, not time."""
        return self.epoch_us_template.format(timestamp)

    def md5_hex(self, text: str) -> str:
        """BigQuery's md5 returns bytes, DuckDB's a hex string: both become hex here."""
        return self.md5_hex_template.format(text)

    def cast_bigint(self, expr: str) -> str:
        """DuckDB's integer sum is HUGEINT: cast counts to the contract's 64-bit integer."""
        return f"cast({expr} as {self.bigint})"

    def cast_double(self, expr: str) -> str:
        return f"cast({expr} as {self.double})"

    def percentile(self, column: str, share: float, source: str, alias: str = "value") -> str:
        """A select returning one row, `alias`: the `share` percentile (linear interpolation,
        as numpy's default) of `column` over `source`. BigQuery has percentile_cont only as
        an analytic function, hence the outer aggregate."""
        if not 0 <= share <= 1:
            raise ValueError(f"a percentile share lies in [0, 1], got {share!r}")
        return self.percentile_template.format(
            column=column, share=repr(float(share)), source=source, alias=alias
        )


DUCKDB = Dialect(
    engine="duckdb",
    bigint="bigint",
    double="double",
    epoch_us_template="epoch_us({})",
    md5_hex_template="md5({})",
    percentile_template="select quantile_cont({column}, {share}) as {alias} from {source}",
)

BIGQUERY = Dialect(
    engine="bigquery",
    bigint="int64",
    double="float64",
    epoch_us_template="unix_micros({})",
    md5_hex_template="to_hex(md5({}))",
    percentile_template=(
        "select max({alias}) as {alias} from (select percentile_cont({column}, {share}) "
        "over () as {alias} from {source})"
    ),
)

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
