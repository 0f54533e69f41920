"""Each engine's SQL forms of pipeline.warehouse.dialect, executed: DuckDB in a real (in-memory)
DuckDB, BigQuery on the BigQuery emulator, both against values computed in Python. The forms
are dbt's own macros (dbt/macros/cross_db.sql) rendered without dbt: every dispatched macro has
both engines' variants, and dbt compiles a model to the very text Python renders."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import duckdb
import numpy as np
import pytest

from pipeline.errors import WarehouseError
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.build import dbt_paths
from pipeline.warehouse.dialect import (
    BIGQUERY,
    DUCKDB,
    ENGINES,
    MACROS_FILE,
    Dialect,
    dialect_for,
    dialect_named,
    engine_macros,
)
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)
from tests.warehouse.dbt_sample import Built

MOMENTS = [
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2019, 10, 1, 0, 0, 4, tzinfo=dt.UTC),
    dt.datetime(2020, 2, 29, 23, 59, 59, 999_999, tzinfo=dt.UTC),
]
TEXTS = ["42|s-1", "", "512475445", "ünïcode"]
VALUES = [3.0, 1.0, 7.5, 2.25, 10.0, 0.0, 4.0]


def epoch_us(moment: dt.datetime) -> int:
    return (moment - MOMENTS[0]) // dt.timedelta(microseconds=1)


def timestamp_literal(d: Dialect, moment: dt.datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"timestamp '{text}'" if d is DUCKDB else f"timestamp('{text}+00')"


def values_source(d: Dialect, values: list[float]) -> str:
    """A one-column (`x`, double) table expression that both engines accept."""
    listed = ", ".join(repr(v) for v in values)
    return f"(select {d.cast_double('x')} as x from unnest([{listed}]) as x)"


def check_dialect(d: Dialect, run) -> None:
    """`run(sql) -> first row as a tuple`; every form against its Python value."""
    for moment in MOMENTS:
        (got,) = run(f"select {d.epoch_us(timestamp_literal(d, moment))}")
        assert got == epoch_us(moment)
    for text in TEXTS:
        (got,) = run(f"select {d.md5_hex(repr(text))}")
        assert got == hashlib.md5(text.encode()).hexdigest()
    # 2^53 + 1 survives the 64-bit integer cast (it would not survive a double).
    (big,) = run(f"select {d.cast_bigint(repr(str(2**53 + 1)))}")
    assert big == 2**53 + 1 and isinstance(big, int)
    (half,) = run(f"select {d.cast_double('1')} / 2")
    assert half == 0.5
    for share in (0.5, 0.95, 0.99):
        (cap,) = run(d.percentile("x", share, values_source(d, VALUES), alias="cap"))
        assert cap == pytest.approx(np.quantile(VALUES, share))  # linear interpolation


def test_duckdb_forms_in_duckdb() -> None:
    with duckdb.connect() as con:
        check_dialect(DUCKDB, lambda sql: con.execute(sql).fetchone())


def test_duckdb_forms_through_the_warehouse(settings: Settings) -> None:
    """The engine attribute picks the dialect, and the forms run through the interface."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(settings.warehouse_path)).close()  # an empty warehouse file
    wh = connect(settings)
    assert dialect_for(wh) is DUCKDB
    check_dialect(DUCKDB, lambda sql: wh.query(sql).row(0))


def test_bigquery_forms_as_text() -> None:
    assert BIGQUERY.epoch_us("first_seen_at") == "unix_micros(first_seen_at)"
    assert BIGQUERY.md5_hex("concat('42|', session_id)") == "to_hex(md5(concat('42|', session_id)))"
    assert (BIGQUERY.bigint, BIGQUERY.double) == ("int64", "float64")
    assert BIGQUERY.percentile("revenue", 0.99, "users", alias="cap") == (
        "select max(cap) as cap from (select percentile_cont(revenue, 0.99) over () as cap "
        "from users)"
    )


@pytest.mark.emulator
def test_bigquery_forms_on_the_emulator(settings: Settings, bq_emulator: str) -> None:  # noqa: F811
    wh = connect(
        settings.model_copy(
            update={
                "warehouse": "bigquery",
                "gcp_project": EMULATOR_PROJECT,
                "bq_api_endpoint": bq_emulator,
            }
        )
    )
    assert dialect_for(wh) is BIGQUERY
    check_dialect(BIGQUERY, lambda sql: wh.query(sql).row(0))


def test_selection_by_engine_name() -> None:
    assert dialect_named("duckdb") is DUCKDB and dialect_named("bigquery") is BIGQUERY
    with pytest.raises(WarehouseError, match="ECOM_WAREHOUSE"):
        dialect_named("snowflake")
    with pytest.raises(ValueError, match="percentile"):
        DUCKDB.percentile("x", 1.5, "t")


def test_every_dispatched_macro_has_both_engines_variants() -> None:
    """A new difference in cross_db.sql reaches Python with no edit; a missing variant fails."""
    dispatched = set(re.findall(r"adapter\.dispatch\('(\w+)'", MACROS_FILE.read_text()))
    assert {"epoch_microseconds", "md5_hex", "type_int64", "percentile_select"} <= dispatched
    for engine in ENGINES:
        assert set(engine_macros(engine)) == dispatched, engine
    with pytest.raises(WarehouseError, match="duckdb__no_such_form"):
        DUCKDB.macro("no_such_form")


def test_dbt_compiles_a_model_to_the_forms_python_renders(built: Built) -> None:
    """dbt's dispatch and the plain-Jinja2 rendering pick the same variant: the compiled gold
    model holds the text the Python dialect gives for the same arguments."""
    target, _ = dbt_paths(built.settings)
    models = target / "compiled" / "ecom_growth" / "models"
    events = (models / "intermediate" / "int_session_events.sql").read_text()
    assert f"{DUCKDB.epoch_us('event_time')} as event_time_us" in events
    sql = (models / "marts" / "sessions" / "fact_user_sessions.sql").read_text()
    assert f"cast(count(*) as {DUCKDB.bigint}) as event_count" in sql
    key = f"cast(user_id as TEXT) || '-' || cast({DUCKDB.epoch_us('session_start')} as TEXT)"
    assert f"{DUCKDB.md5_hex(key)} as session_id" in sql
