"""`ecom train` / `ecom score` after `ecom ingest` but before `ecom warehouse`: the warehouse
file holds bronze and no gold. Both must stop with a WarehouseError that says to build gold,
not with DuckDB's CatalogException traceback."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import WarehouseError
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.settings import Settings


@pytest.fixture
def bronze_only(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A real `ecom ingest` of one small generated month; `ecom warehouse` never ran."""
    generate(settings.raw_dir, scale=0.001, seed=3, months=["2019-Oct"])
    ingest(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        schemas = {
            row[0] for row in con.execute("select schema_name from duckdb_schemas()").fetchall()
        }
        assert con.execute("select count(*) from bronze.events").fetchone()[0] > 0
    assert "bronze" in schemas and "gold" not in schemas
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    return settings


def flat(text: str) -> str:
    """The CLI's message with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.mark.parametrize("command", [["train"], ["train", "--engine", "local"], ["score"]])
def test_stage_before_warehouse_says_to_run_it(bronze_only: Settings, command: list[str]):
    result = CliRunner().invoke(app, command)
    assert result.exit_code == WarehouseError.exit_code, result.output
    assert isinstance(result.exception, SystemExit)  # the handled error, not a traceback
    message = flat(result.output)
    assert "gold.fct_cart_sessions" in message
    assert "`ecom warehouse`" in message
    assert "Traceback" not in result.output
    # Nothing was written on the way out: no model folder, no scoring table.
    assert not (bronze_only.models_dir / "abandonment").exists()
    with duckdb.connect(str(bronze_only.warehouse_path), read_only=True) as con:
        tables = con.execute("select table_name from duckdb_tables()").fetchall()
    assert ("cart_session_scores",) not in tables


def test_score_without_a_warehouse_file_says_to_ingest(settings: Settings, monkeypatch):
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["score"])
    assert result.exit_code == WarehouseError.exit_code, result.output
    assert "`ecom ingest`" in flat(result.output)
    assert not settings.warehouse_path.exists()


def test_gold_without_a_contract_column_says_to_rebuild(settings: Settings, monkeypatch):
    """A gold table from an older build (a contract column missing) is an engine error other
    than a missing table: still a WarehouseError naming the fix, for train and for score."""
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema gold")
        con.execute(
            "create table gold.fct_cart_sessions as select 's1' as session_id, 1::bigint as "
            "user_id, 'control' as experiment_group, 3::bigint as total_views"
        )
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    for command in (["train"], ["score"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == WarehouseError.exit_code, result.output
        assert isinstance(result.exception, SystemExit)
        message = flat(result.output)
        assert "gold.fct_cart_sessions" in message and "`ecom warehouse`" in message
