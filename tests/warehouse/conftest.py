"""Fixtures of the DuckDB dbt tests: one dbt build of a small bronze sample, shared."""

from __future__ import annotations

import pytest

from pipeline.settings import Settings
from pipeline.warehouse.build import build_warehouse
from tests.warehouse.dbt_sample import Built, bronze_sample, write_bronze


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One dbt build of the sample, shared by every test that only reads it (dbt startup
    costs seconds per invocation)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("warehouse") / "data")
    bronze = bronze_sample()
    write_bronze(settings.warehouse_path, bronze)
    return Built(settings, bronze, build_warehouse(settings))
