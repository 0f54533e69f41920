"""The scale-out engine: BigQuery datasets settings.bq_{bronze,silver,gold}_dataset.

The same code talks to real BigQuery or to an emulator on loopback: when settings.bq_api_endpoint
is set, the client goes there with anonymous credentials (an emulator checks no token).

Cost and safety: every query job carries `maximum_bytes_billed` (ECOM_BQ_MAXIMUM_BYTES_BILLED);
bronze.events is partitioned by the UTC day of event_time and clustered by source file, so a
month's reload deletes and rewrites only that month's partitions; a gs:// lake is loaded by
one load job straight from its objects (nothing goes through this machine).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from google.api_core.exceptions import GoogleAPIError, NotFound
from google.auth.exceptions import GoogleAuthError

from pipeline.errors import InputError, WarehouseError
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
from pipeline.warehouse.gcp_errors import CREDENTIALS_HINT, explain

if TYPE_CHECKING:
    from google.cloud import bigquery

# Bronze column types on BigQuery, derived from the contracts in pipeline.schema.
_BQ_TYPES: dict[type[pl.DataType], str] = {
    pl.Datetime: "TIMESTAMP",
    pl.String: "STRING",
    pl.Int64: "INT64",
    pl.Float64: "FLOAT64",
    pl.Boolean: "BOOL",
    pl.Date: "DATE",
}

STAGING_TTL = timedelta(days=1)
SAFE_SOURCE_FILE = re.compile(r"[A-Za-z0-9._-]+")
GCS_SCHEME = "gs://"
# The lake's partition folders (pipeline.lake: <table>/month=YYYY-MM/part-*.parquet).
HIVE_KEY = "month"
# bronze.events' physical layout: a day partition on event_time (what `DATE(event_time)`
# selects), clustered by the source file (a month) and then the user, the sessionization key.
BRONZE_PARTITION_FIELD = "event_time"
BRONZE_CLUSTERING = ("source_file", "user_id")
QUARANTINE_CLUSTERING = ("source_file",)
# Errors that mean "this account or machine cannot talk to BigQuery", worded for the user.
CLIENT_ERRORS = (GoogleAPIError, GoogleAuthError)

# A bronze part: a Parquet file (the lake's, or ingestion's local staging copy) or a frame.
Part = str | Path | pl.DataFrame


def bq_schema(schema: pl.Schema) -> list[bigquery.SchemaField]:
    """A Polars contract as BigQuery schema fields (all NULLABLE: quality checks live in dbt)."""
    from google.cloud import bigquery

    return [
        bigquery.SchemaField(name, _BQ_TYPES[dtype.base_type()]) for name, dtype in schema.items()
    ]


class BigQueryWarehouse:
    engine = "bigquery"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if not settings.gcp_project:
            raise WarehouseError(
                "ECOM_WAREHOUSE=bigquery needs a project: set ECOM_GCP_PROJECT "
                "(and ECOM_BQ_API_ENDPOINT to use an emulator)."
            )
        self.project = settings.gcp_project
        self.datasets = {
            "bronze": settings.bq_bronze_dataset,
            "silver": settings.bq_silver_dataset,
            "gold": settings.bq_gold_dataset,
        }
        self._client: bigquery.Client | None = None

    @property
    def client(self) -> bigquery.Client:
        """A google-cloud-bigquery client, created on first use (imports are slow)."""
        if self._client is None:
            from google.cloud import bigquery

            endpoint = self.settings.bq_api_endpoint
            if endpoint:
                from google.auth.credentials import AnonymousCredentials

                self._client = bigquery.Client(
                    project=self.project,
                    location=self.settings.bq_location,
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": endpoint},
                )
            else:
                try:
                    self._client = bigquery.Client(
                        project=self.project, location=self.settings.bq_location
                    )
                except GoogleAuthError as exc:
                    raise WarehouseError(f"{CREDENTIALS_HINT} ({exc})") from exc
        return self._client

    def job_config(self, **options: object) -> bigquery.QueryJobConfig:
        """Every query job's settings: the byte cap, plus what the caller adds."""
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(
            maximum_bytes_billed=self.settings.bq_maximum_bytes_billed, **options
        )

    def run(self, sql: str, doing: str) -> bigquery.table.RowIterator:
        """Run a statement or script under the byte cap; a Google error becomes a
        WarehouseError naming the setting or permission to fix."""
        try:
            return self.client.query(sql, job_config=self.job_config()).result()
        except NotFound as exc:
            raise WarehouseError(self._missing_message(exc, sql)) from exc
        except CLIENT_ERRORS as exc:
            raise WarehouseError(explain(exc, self.settings, doing)) from exc

    def dry_run_bytes(self, sql: str) -> int:
        """Bytes BigQuery would process for a query, from a dry-run job (nothing is billed)."""
        try:
            job = self.client.query(
                sql, job_config=self.job_config(dry_run=True, use_query_cache=False)
            )
        except NotFound as exc:
            raise WarehouseError(self._missing_message(exc, sql)) from exc
        except CLIENT_ERRORS as exc:
            raise WarehouseError(explain(exc, self.settings, "A BigQuery dry run")) from exc
        return int(job.total_bytes_processed or 0)

    def table_id(self, layer: str, name: str) -> str:
        """`project.dataset.name` as the client API wants it (no quoting)."""
        if layer not in self.datasets:
            raise WarehouseError(f"Unknown layer {layer!r}: use one of {sorted(self.datasets)}.")
        return f"{self.project}.{self.datasets[layer]}.{name}"

    def table(self, layer: str, name: str) -> str:
        """The table's name for SQL, back-quoted because project ids may contain dashes."""
        return f"`{self.table_id(layer, name)}`"

    def exists(self, layer: str, name: str) -> bool:
        return self.columns(layer, name) is not None

    def columns(self, layer: str, name: str) -> list[str] | None:
        try:
            table = self.client.get_table(self.table_id(layer, name))
        except NotFound:
            return None
        except CLIENT_ERRORS as exc:
            raise WarehouseError(explain(exc, self.settings, "Looking up a table")) from exc
        return [field.name.lower() for field in table.schema]

    def query(self, sql: str) -> pl.DataFrame:
        rows = self.run(sql, "A BigQuery query")
        try:
            # The Storage Read API is faster on real BigQuery; the REST path works everywhere.
            arrow = rows.to_arrow(create_bqstorage_client=False)
        except CLIENT_ERRORS as exc:
            raise WarehouseError(explain(exc, self.settings, "Reading query results")) from exc
        return pl.from_arrow(arrow)  # type: ignore[return-value]

    def _missing_message(self, exc: NotFound, sql: str) -> str:
        """'gold.x does not exist: run `ecom warehouse`', from BigQuery's 404.

        The 404 names the dataset (and table) it did not find; failing that, the first of our
        datasets the query mentions says which layer it was."""
        text = str(exc)
        for source in (text, sql):  # the 404's own words first
            for layer, dataset in self.datasets.items():
                if not re.search(rf"\b{re.escape(dataset)}\b", source):
                    continue
                table = next(
                    (
                        found.group(1)
                        for where in (text, sql)
                        if (found := re.search(rf"\b{re.escape(dataset)}\.(\w+)", where))
                    ),
                    "",
                )
                hint = missing_table_hint(layer, table)
                return f"{layer}.{table or '*'} does not exist in BigQuery: run {hint}. ({text})"
        return f"BigQuery query failed, something it reads does not exist: {text}"

    def ensure_datasets(self) -> None:
        """Create the three layer datasets where missing (no-op when they exist).

        Looked up first: on real BigQuery `create_dataset(exists_ok=True)` needs the project's
        bigquery.datasets.create even for a dataset that exists, and Terraform's pipeline
        account has only its datasets' roles (the datasets are Terraform's)."""
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        for name in self.datasets.values():
            try:
                self.client.get_dataset(f"{self.project}.{name}")
                continue
            except NotFound:
                pass
            dataset = bigquery.Dataset(f"{self.project}.{name}")
            dataset.location = self.settings.bq_location
            self.client.create_dataset(dataset, exists_ok=True)

    def ensure_bronze_tables(self) -> None:
        """Bronze `events` and `quarantine`, created where missing.

        events: partitioned by the UTC day of event_time (the day partitions of one month file
        are exactly what its reload rewrites) and clustered by source file then user (the
        delete's filter, then the sessionization key). An existing table keeps its layout
        (BigQuery cannot re-partition in place); a different one is reported, not changed."""
        from google.cloud import bigquery

        events = bigquery.Table(self.table_id("bronze", BRONZE_TABLE), bq_schema(BRONZE_SCHEMA))
        events.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=BRONZE_PARTITION_FIELD
        )
        events.clustering_fields = list(BRONZE_CLUSTERING)
        rejects = bigquery.Table(
            self.table_id("bronze", QUARANTINE_TABLE), bq_schema(QUARANTINE_SCHEMA)
        )
        rejects.clustering_fields = list(QUARANTINE_CLUSTERING)
        existing = self.client.create_table(events, exists_ok=True)
        self.client.create_table(rejects, exists_ok=True)
        layout = _layout(existing)
        if layout != _layout(events):
            raise WarehouseError(
                f"{self.table_id('bronze', BRONZE_TABLE)} exists with partitioning and clustering "
                f"{layout}, not {_layout(events)}: a month's reload would scan and rewrite more "
                "than that month. Recreate it: drop the table, then re-run `ecom ingest` for "
                "every month (the lake keeps them)."
            )

    def load_bronze(
        self,
        source_file: str,
        event_parts: Sequence[Part],
        quarantine_parts: Sequence[Part] = (),
    ) -> BronzeLoad:
        """Replace one source file's rows in bronze.events and bronze.quarantine, atomically.

        Same contract as the DuckDB engine's `load_bronze`: a re-run replaces the month's file
        and never duplicates rows; a failed load leaves the previous rows in place. The parts
        go to staging tables first, then one transaction deletes and inserts.
        """
        _check_source_file(source_file)
        try:
            self.ensure_datasets()
            self.ensure_bronze_tables()
        except CLIENT_ERRORS as exc:
            raise WarehouseError(
                explain(exc, self.settings, "Creating the BigQuery bronze datasets and tables")
            ) from exc
        suffix = uuid.uuid4().hex[:12]
        staged: list[tuple[str, str, pl.Schema]] = []
        try:
            for table, parts, schema in (
                (BRONZE_TABLE, event_parts, BRONZE_SCHEMA),
                (QUARANTINE_TABLE, quarantine_parts, QUARANTINE_SCHEMA),
            ):
                staging = self.table_id("bronze", f"_load_{table}_{suffix}")
                staged.append((table, staging, schema))  # before: a failed upload is cleaned too
                self._stage(staging, parts, schema)
            self._swap(source_file, staged)
            events, quarantined = self._count(source_file)
        except CLIENT_ERRORS as exc:
            raise WarehouseError(
                explain(exc, self.settings, f"Loading {source_file} into BigQuery bronze")
                + "\nThe previous rows were kept; fix the cause and re-run the load."
            ) from exc
        except WarehouseError as exc:
            raise WarehouseError(
                f"{exc}\nThe previous rows of {source_file} were kept; fix the cause and re-run "
                "the load."
            ) from exc
        finally:
            for _, staging, _ in staged:
                self.client.delete_table(staging, not_found_ok=True)
        return BronzeLoad(events=events, quarantined=quarantined)

    def replace_rows(
        self,
        layer: str,
        name: str,
        schema: pl.Schema,
        frame: pl.DataFrame,
        match: Mapping[str, str],
    ) -> int:
        """The DuckDB engine's contract: the frame goes to a staging table, then one
        transaction deletes the matching rows and inserts the staged ones. The table is made
        from `schema` on first use, clustered by the match columns (what the delete and
        analysts filter on)."""
        from google.cloud import bigquery

        target = self.table_id(layer, name)
        rows = conformed(frame, schema, f"{layer}.{name}")
        staging = self.table_id(layer, f"_load_{name}_{uuid.uuid4().hex[:12]}")
        script = replace_rows_sql(
            self.engine, self.table(layer, name), f"`{staging}`", schema, match
        )
        doing = f"Writing {layer}.{name}"
        try:
            table = bigquery.Table(target, bq_schema(schema))
            table.clustering_fields = list(match)[:4]
            self.client.create_table(table, exists_ok=True)
            self._stage(staging, [rows], schema)
            self.run(script, doing)
            found = self.query(count_matching_sql(self.engine, self.table(layer, name), match))
        except CLIENT_ERRORS as exc:
            raise WarehouseError(
                explain(exc, self.settings, doing) + " Its previous rows were kept."
            ) from exc
        finally:
            self.client.delete_table(staging, not_found_ok=True)
        return int(found["matching"][0])

    def _stage(self, staging: str, parts: Sequence[Part], schema: pl.Schema) -> None:
        """Load the parts into a fresh staging table; it exists, maybe empty, afterwards.

        Parts in GCS (a gs:// lake) go in one load job that BigQuery reads from the bucket;
        local files and frames are uploaded one at a time (a full month is millions of rows).
        """
        from google.cloud import bigquery

        in_gcs = [str(p) for p in parts if isinstance(p, str) and p.startswith(GCS_SCHEME)]
        if in_gcs and len(in_gcs) != len(parts):
            raise InputError(
                "A bronze load takes either lake objects (gs://...) or local parts, not both."
            )
        prefix = _hive_prefix(in_gcs)
        fields = bq_schema(schema)
        if prefix:
            # BigQuery reads the lake's Hive folders (month=YYYY-MM) as a column; the staging
            # table has it, bronze does not (the insert names bronze's columns).
            fields.append(bigquery.SchemaField(HIVE_KEY, "STRING"))
        table = bigquery.Table(staging, fields)
        # Dropped in `finally`; the expiry cleans up after a process that died mid-load.
        table.expires = datetime.now(UTC) + STAGING_TTL
        self.client.create_table(table)
        if in_gcs:
            # One load job reads every part from the bucket into the staging table's schema.
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            )
            if prefix:
                hive = bigquery.HivePartitioningOptions()
                hive.mode = "STRINGS"
                hive.source_uri_prefix = prefix
                config.hive_partitioning = hive
            self.client.load_table_from_uri(in_gcs, staging, job_config=config).result()
            return
        for part in parts:
            frame = pl.read_parquet(part) if isinstance(part, str | Path) else part
            missing = [name for name in schema if name not in frame.columns]
            if missing:
                raise InputError(
                    f"Bronze part {part if not isinstance(part, pl.DataFrame) else '(frame)'} "
                    f"lacks columns {missing}: re-create it with `ecom ingest`."
                )
            buffer = io.BytesIO()
            frame.select(pl.col(n).cast(t) for n, t in schema.items()).write_parquet(buffer)
            buffer.seek(0)
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                schema=bq_schema(schema),
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            )
            # No size given: the client uses a resumable upload, which every endpoint supports.
            self.client.load_table_from_file(buffer, staging, job_config=config).result()

    def _swap(self, source_file: str, staged: list[tuple[str, str, pl.Schema]]) -> None:
        """One transaction: delete the source file's rows, insert the staged ones."""
        bounds = self._event_bounds(source_file)
        self.run(swap_script(self, source_file, staged, bounds), f"Replacing {source_file}")

    def _event_bounds(self, source_file: str) -> tuple[datetime, datetime] | None:
        """First and last event_time of the file's rows now in bronze (None: it has none).

        The delete filters on them as constants, so BigQuery prunes to those day partitions
        (a month) instead of scanning every month's source_file column; clustering by source
        file makes this lookup read only that file's blocks."""
        found = self.query(bounds_sql(self, source_file))
        low, high = found["low"][0], found["high"][0]
        return None if low is None else (low, high)

    def _count(self, source_file: str) -> tuple[int, int]:
        counts = self.query(count_sql(self, source_file))
        return int(counts["events"][0]), int(counts["quarantined"][0])


def _hive_prefix(uris: Sequence[str]) -> str | None:
    """gs://bucket/lake/events for parts under gs://bucket/lake/events/month=.../, when all
    share it (BigQuery's hive partitioning needs one prefix); else None."""
    marker = f"/{HIVE_KEY}="
    prefixes = {uri.split(marker)[0] for uri in uris if marker in uri}
    if len(prefixes) == 1 and all(marker in uri for uri in uris):
        return prefixes.pop()
    return None


def _layout(table: bigquery.Table) -> tuple[str | None, str | None, tuple[str, ...]]:
    partitioning = table.time_partitioning
    return (
        partitioning.type_ if partitioning else None,
        partitioning.field if partitioning else None,
        tuple(table.clustering_fields or ()),
    )


def bounds_sql(wh: BigQueryWarehouse, source_file: str) -> str:
    return (
        f"select min(event_time) as low, max(event_time) as high "
        f"from {wh.table('bronze', BRONZE_TABLE)} where source_file = '{source_file}'"
    )


def count_sql(wh: BigQueryWarehouse, source_file: str) -> str:
    return (
        f"select "
        f"(select count(*) from {wh.table('bronze', BRONZE_TABLE)} "
        f"where source_file = '{source_file}') as events, "
        f"(select count(*) from {wh.table('bronze', QUARANTINE_TABLE)} "
        f"where source_file = '{source_file}') as quarantined"
    )


def _timestamp_literal(at: datetime) -> str:
    return f"timestamp '{at.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00'"


def swap_script(
    wh: BigQueryWarehouse,
    source_file: str,
    staged: Sequence[tuple[str, str, pl.Schema]],
    event_bounds: tuple[datetime, datetime] | None,
) -> str:
    """The load's one transaction: per table, delete the file's rows, insert the staged ones.

    events' delete carries the old rows' time range as constants (partition pruning: only
    that month is read and rewritten); with no old rows there is nothing to delete."""
    statements = ["begin transaction;"]
    for table, staging, schema in staged:
        target = wh.table("bronze", table)
        columns = ", ".join(schema)
        where = f"source_file = '{source_file}'"
        if table == BRONZE_TABLE and event_bounds is not None:
            low, high = (_timestamp_literal(at) for at in event_bounds)
            where += f" and {BRONZE_PARTITION_FIELD} between {low} and {high}"
        if table != BRONZE_TABLE or event_bounds is not None:  # else: no old rows to delete
            statements.append(f"delete from {target} where {where};")
        statements.append(f"insert into {target} ({columns}) select {columns} from `{staging}`;")
    statements.append("commit transaction;")
    return "\n".join(statements)


def _check_source_file(source_file: str) -> None:
    """Source files are month files ("2019-Oct.csv"). The name goes into SQL as a literal:
    the emulator rejects query parameters in multi-statement scripts, so it is checked."""
    if not SAFE_SOURCE_FILE.fullmatch(source_file):
        raise InputError(
            f"Unexpected source file name {source_file!r}: use letters, digits, '.', '-', '_'."
        )
