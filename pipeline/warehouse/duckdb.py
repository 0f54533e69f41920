"""The embedded default: one DuckDB file holds bronze, silver and gold as schemas."""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import duckdb
import polars as pl

from pipeline.errors import EcomError, StorageError, WarehouseError
from pipeline.faults import checkpoint
from pipeline.files import advice, cause, literal_glob, user
from pipeline.lake import Lake
from pipeline.schema import BRONZE_SCHEMA, QUARANTINE_SCHEMA
from pipeline.settings import Settings
from pipeline.warehouse import (
    BRONZE_TABLE,
    QUARANTINE_TABLE,
    BronzeLoad,
    conformed,
    count_matching_sql,
    missing_table_hint,
    replace_rows_sql,
)

__all__ = ["BRONZE_TABLE", "QUARANTINE_TABLE", "BronzeLoad", "DuckDBWarehouse"]

# How DuckDB names a file it could not write: 'Cannot open file "/x/warehouse.duckdb.wal":
# Permission denied', 'Could not write file "…": No space left on device'.
_FILE_FAILURE = re.compile(r'file "([^"]+)": ')
# How DuckDB names what a query did not find: 'Table with name "gold.x" does not exist' (the
# schema is missing too) or 'Table with name x does not exist!' (only the table is).
_MISSING = re.compile(r'(?:Table|View) with name "?([\w.]+?)"? does not exist')

# DuckDB column types for the bronze contracts (pipeline.schema), derived, never restated.
_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.Datetime: "timestamptz",  # Parquet's UTC-adjusted timestamp; an instant, not a wall time
    pl.String: "varchar",
    pl.Int64: "bigint",
    pl.Float64: "double",
    pl.Boolean: "boolean",
    pl.Date: "date",
}


def _duckdb_type(dtype: pl.DataType) -> str:
    return _DUCKDB_TYPES[dtype.base_type()]


def _ddl(table: str, schema: pl.Schema) -> str:
    columns = ",\n    ".join(f"{name} {_duckdb_type(dtype)}" for name, dtype in schema.items())
    return f"create table if not exists {table} (\n    {columns}\n)"


class DuckDBWarehouse:
    engine = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.warehouse_path

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise WarehouseError(
                f"No warehouse at {self.path}. Run `ecom ingest` (or `make demo`) first."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as err:
            raise WarehouseError(_open_failure(self.path, err, read_only)) from err
        # Like the dbt profile: timestamptz values come back in UTC, not in the machine's zone
        # (which would make results, e.g. a model card's data window, depend on where it ran).
        con.execute("set TimeZone = 'UTC'")
        return con

    def table(self, layer: str, name: str) -> str:
        return f"{layer}.{name}"

    def exists(self, layer: str, name: str) -> bool:
        return self.columns(layer, name) is not None

    def columns(self, layer: str, name: str) -> list[str] | None:
        if not self.path.exists():
            return None
        with self.connect(read_only=True) as con:
            found = con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [layer, name],
            ).fetchall()
        return [c.lower() for (c,) in found] or None

    def query(self, sql: str) -> pl.DataFrame:
        with self.connect(read_only=True) as con:
            try:
                return con.sql(sql).pl()
            except duckdb.CatalogException as err:
                raise WarehouseError(_missing_message(str(err), sql, self.path)) from err

    def load_bronze(
        self,
        source_file: str,
        event_parts: Sequence[str | Path],
        quarantine_parts: Sequence[str | Path] = (),
    ) -> BronzeLoad:
        """Make one source file's new rows what bronze holds, in one transaction.

        With a local lake (the default) `bronze.events` is a view over the lake's Parquet:
        the month's partition was already swapped in whole, so there is nothing to copy (copying
        cost ~2.4 s a month, half of ingestion) and the view is only (re)declared; `event_parts`
        are then the lake's own files. With a gs:// lake DuckDB would need GCS credentials to
        read it, so `bronze.events` stays a table loaded from `event_parts` (the local staging
        copies): delete the file's rows, insert the new ones. `bronze.quarantine` is always a
        small table loaded that way. Either way a re-run replaces the month, a failed load
        leaves the previous state, and the returned counts are what DuckDB now sees.
        """
        events = self.table("bronze", BRONZE_TABLE)
        rejects = self.table("bronze", QUARANTINE_TABLE)
        lake = Lake(self.settings.lake)
        with self.connect() as con:
            # Rows need no particular order (source_line says where each came from); letting
            # DuckDB insert in parallel makes a load ~30% faster.
            con.execute("set preserve_insertion_order = false")
            con.execute("begin transaction")
            try:
                con.execute("create schema if not exists bronze")
                con.execute(_ddl(rejects, QUARANTINE_SCHEMA))
                if lake.is_gcs:
                    _drop_if_kind(con, "bronze", BRONZE_TABLE, "VIEW")
                    con.execute(_ddl(events, BRONZE_SCHEMA))
                    _replace_rows(con, events, BRONZE_SCHEMA, source_file, event_parts)
                else:
                    _drop_if_kind(con, "bronze", BRONZE_TABLE, "BASE TABLE")
                    con.execute(_view_ddl(events, BRONZE_SCHEMA, lake.local_glob(BRONZE_TABLE)))
                _replace_rows(con, rejects, QUARANTINE_SCHEMA, source_file, quarantine_parts)
                counts = [
                    con.execute(
                        f"select count(*) from {table} where source_file = ?", [source_file]
                    ).fetchone()[0]
                    for table in (events, rejects)
                ]
                checkpoint("bronze-transaction")  # a fault test's kill point (pipeline.faults)
                con.execute("commit")
            except RuntimeError as err:  # how DuckDB reports Ctrl-C during a query
                if "interrupted" not in str(err).lower():
                    raise
                raise KeyboardInterrupt from err  # the caller says what it undid
            except duckdb.Error as err:
                with suppress(duckdb.Error):  # a failed commit has ended the transaction itself
                    con.execute("rollback")
                raise _load_failure(err, source_file, events) from err
        return BronzeLoad(events=counts[0], quarantined=counts[1])

    def replace_rows(
        self,
        layer: str,
        name: str,
        schema: pl.Schema,
        frame: pl.DataFrame,
        match: Mapping[str, str],
    ) -> int:
        """One transaction: delete the matching rows, insert the frame's (the table is made
        from `schema` on first use)."""
        table = self.table(layer, name)
        script = replace_rows_sql(self.engine, table, "_replacement", schema, match)
        rows = conformed(frame, schema, table)
        with self.connect() as con:
            try:
                con.execute(f"create schema if not exists {layer}")
                con.execute(_ddl(table, schema))
                con.register("_replacement", rows)
                con.execute(script)
            except duckdb.Error as err:
                with suppress(duckdb.Error):  # a failed statement leaves the transaction open
                    con.execute("rollback")
                raise WarehouseError(
                    f"Writing {table} failed: {err}. Its previous rows were kept."
                ) from err
            found = con.execute(count_matching_sql(self.engine, table, match)).fetchone()
        return int(found[0])


def _load_failure(err: duckdb.Error, source_file: str, table: str) -> EcomError:
    """A file DuckDB could not write (its log beside the warehouse on a read-only folder or a
    full disk) as a storage failure in words; anything else as the warehouse's own error."""
    found = _FILE_FAILURE.search(str(err))
    if found:
        path = Path(found.group(1))
        return StorageError(
            f"Cannot write {path}: {cause(err, path)}. Bronze keeps its previous rows. "
            f"{advice(err, path)}."
        )
    return WarehouseError(
        f"Loading {source_file} into {table} failed: {err}. The previous rows were kept; fix "
        "the cause and re-run `ecom ingest`."
    )


def _open_failure(path: Path, err: duckdb.IOException, read_only: bool) -> str:
    """Why the warehouse file would not open, told apart from DuckDB's message: another
    process's lock, a permission, or something else (then DuckDB's own words)."""
    text = str(err)
    if "Conflicting lock" in text or "Could not set lock" in text:
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", text)
        who = f"process {holder.group(2)} ({holder.group(1)})" if holder else "another process"
        return (
            f"Cannot open the warehouse {path}: {who} holds it (dbt, a notebook, the app?). "
            "Close it and retry."
        )
    if "Permission denied" in text:
        mode = "read" if read_only else "write"
        return (
            f"Cannot open the warehouse {path}: permission denied for user {user()}, who cannot "
            f"{mode} it. Fix its permissions (or set ECOM_DUCKDB_PATH to a file this user can "
            f"{mode}) and retry. ({text.splitlines()[0]})"
        )
    return f"Cannot open the warehouse {path}: {text}"


def _missing_message(error: str, sql: str, path: Path) -> str:
    """'gold.x does not exist: run `ecom warehouse`', from DuckDB's catalog error."""
    found = _MISSING.search(error)
    if not found:
        return f"Query failed in {path}: {error}"
    name = found.group(1)
    if "." not in name:  # DuckDB names the table only: take its schema from the query
        qualified = re.search(rf"\b(\w+)\.{re.escape(name)}\b", sql)
        name = qualified.group(0) if qualified else name
    layer, _, table = name.rpartition(".")
    return (
        f"{name} does not exist in {path}: run {missing_table_hint(layer or None, table)}. "
        f"({error.splitlines()[0]})"
    )


def _view_ddl(view: str, schema: pl.Schema, parts_glob: str) -> str:
    """A view with exactly the contract's columns and types over the lake's Parquet parts.

    Explicit casts and `union_by_name` keep the declared types whatever each file holds. The
    path is absolute: the warehouse file follows the lake where it is (move the data folder
    and `ecom ingest` re-declares it). Before any part exists the view is empty but typed.
    """
    if glob.glob(parts_glob):  # the lake's own folder is escaped (Lake.local_glob)
        source = f"read_parquet({_sql_text(parts_glob)}, union_by_name = true)"
        columns = [
            f"cast({name} as {_duckdb_type(dtype)}) as {name}" for name, dtype in schema.items()
        ]
        return f"create or replace view {view} as select {', '.join(columns)} from {source}"
    columns = [f"cast(null as {_duckdb_type(dtype)}) as {name}" for name, dtype in schema.items()]
    return f"create or replace view {view} as select {', '.join(columns)} limit 0"


def _drop_if_kind(con: duckdb.DuckDBPyConnection, schema: str, name: str, kind: str) -> None:
    """Drop `schema.name` when it is a `kind` ('VIEW' or 'BASE TABLE'): a warehouse made with
    the other lake kind (or before bronze became a view) switches form on the next load."""
    found = con.execute(
        "select table_type from information_schema.tables "
        "where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    if found and found[0] == kind:
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {schema}.{name}")


def _replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: pl.Schema,
    source_file: str,
    parts: Sequence[str | Path],
) -> None:
    con.execute(f"delete from {table} where source_file = ?", [source_file])
    if parts:
        columns = ", ".join(schema)
        con.execute(
            f"insert into {table} ({columns}) select {columns} from read_parquet(?)",
            [[literal_glob(p) for p in parts]],  # each a file, never a pattern
        )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
