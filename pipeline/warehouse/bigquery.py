"""The scale-out engine: BigQuery datasets settings.bq_{bronze,silver,gold}_dataset.

The same code talks to real BigQuery or to an emulator on loopback: when settings.bq_api_endpoint
is set, the client goes there with anonymous credentials (an emulator checks no token).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from google.api_core.exceptions import GoogleAPIError, NotFound

from pipeline.errors import InputError, WarehouseError
from pipeline.schema import BRONZE_SCHEMA, QUARANTINE_SCHEMA
from pipeline.settings import Settings
from pipeline.warehouse import BRONZE_TABLE, QUARANTINE_TABLE, BronzeLoad, missing_table_hint

if TYPE_CHECKING:
    from google.cloud import bigquery

# Bronze column types on BigQuery, derived from the contracts in pipeline.schema.
_BQ_TYPES: dict[type[pl.DataType], str] = {
    pl.Datetime: "TIMESTAMP",
    pl.String: "STRING",
    pl.Int64: "INT64",
    pl.Float64: "FLOAT64",
    pl.Boolean: "BOOL",
}

STAGING_TTL = timedelta(days=1)
SAFE_SOURCE_FILE = re.compile(r"[A-Za-z0-9._-]+")

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
                self._client = bigquery.Client(
                    project=self.project, location=self.settings.bq_location
                )
        return self._client

    def table_id(self, layer: str, name: str) -> str:
        """`project.dataset.name` as the client API wants it (no quoting)."""
        if layer not in self.datasets:
            raise WarehouseError(f"Unknown layer {layer!r}: use one of {sorted(self.datasets)}.")
        return f"{self.project}.{self.datasets[layer]}.{name}"

    def table(self, layer: str, name: str) -> str:
        """The table's name for SQL, back-quoted because project ids may contain dashes."""
        return f"`{self.table_id(layer, name)}`"

    def query(self, sql: str) -> pl.DataFrame:
        try:
            rows = self.client.query(sql).result()
            # The Storage Read API is faster on real BigQuery; the REST path works everywhere.
            arrow = rows.to_arrow(create_bqstorage_client=False)
        except NotFound as exc:
            raise WarehouseError(self._missing_message(exc, sql)) from exc
        except GoogleAPIError as exc:
            raise WarehouseError(f"BigQuery query failed: {exc}") from exc
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
        """Create the three layer datasets where missing (no-op when they exist)."""
        from google.cloud import bigquery

        for name in self.datasets.values():
            dataset = bigquery.Dataset(f"{self.project}.{name}")
            dataset.location = self.settings.bq_location
            self.client.create_dataset(dataset, exists_ok=True)

    def ensure_bronze_tables(self) -> None:
        """Bronze `events` (month-partitioned on event_time, clustered by user for the
        sessionization windows) and `quarantine`, created where missing."""
        from google.cloud import bigquery

        events = bigquery.Table(self.table_id("bronze", BRONZE_TABLE), bq_schema(BRONZE_SCHEMA))
        events.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.MONTH, field="event_time"
        )
        events.clustering_fields = ["user_id"]
        rejects = bigquery.Table(
            self.table_id("bronze", QUARANTINE_TABLE), bq_schema(QUARANTINE_SCHEMA)
        )
        for table in (events, rejects):
            self.client.create_table(table, exists_ok=True)

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
        except GoogleAPIError as exc:
            raise WarehouseError(f"Cannot create the BigQuery bronze tables: {exc}") from exc
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
        except GoogleAPIError as exc:
            raise WarehouseError(
                f"Loading {source_file} into BigQuery bronze failed: {exc}. The previous rows "
                "were kept; fix the cause and re-run the load."
            ) from exc
        finally:
            for _, staging, _ in staged:
                self.client.delete_table(staging, not_found_ok=True)
        return BronzeLoad(events=events, quarantined=quarantined)

    def _stage(self, staging: str, parts: Sequence[Part], schema: pl.Schema) -> None:
        """Upload the parts, one at a time (a full-scale month is millions of rows), to a
        fresh staging table; it exists, maybe empty, afterwards."""
        from google.cloud import bigquery

        table = bigquery.Table(staging, bq_schema(schema))
        # Dropped in `finally`; the expiry cleans up after a process that died mid-load.
        table.expires = datetime.now(UTC) + STAGING_TTL
        self.client.create_table(table)
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
        statements = ["begin transaction;"]
        for table, staging, schema in staged:
            target = self.table("bronze", table)
            columns = ", ".join(schema)
            statements += [
                f"delete from {target} where source_file = '{source_file}';",
                f"insert into {target} ({columns}) select {columns} from `{staging}`;",
            ]
        statements.append("commit transaction;")
        self.client.query("\n".join(statements)).result()

    def _count(self, source_file: str) -> tuple[int, int]:
        counts = self.query(
            f"select "
            f"(select count(*) from {self.table('bronze', BRONZE_TABLE)} "
            f"where source_file = '{source_file}') as events, "
            f"(select count(*) from {self.table('bronze', QUARANTINE_TABLE)} "
            f"where source_file = '{source_file}') as quarantined"
        )
        return int(counts["events"][0]), int(counts["quarantined"][0])


def _check_source_file(source_file: str) -> None:
    """Source files are month files ("2019-Oct.csv"). The name goes into SQL as a literal:
    the emulator rejects query parameters in multi-statement scripts, so it is checked."""
    if not SAFE_SOURCE_FILE.fullmatch(source_file):
        raise InputError(
            f"Unexpected source file name {source_file!r}: use letters, digits, '.', '-', '_'."
        )
