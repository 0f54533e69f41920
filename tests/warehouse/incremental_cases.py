"""The proof that incremental builds equal a full refresh, for both engines' tests.

Raw files: the generator's five months, plus hand-built users whose sessions cross the month
boundaries at 23:59:59 (a session that runs from one file into the next, a gap of exactly the
timeout across midnight, a label that finds its purchase in the next month, a session chaining
for a day and a half across a boundary). The months are ingested one at a time with the real
`ingest`, February before January, then two months are re-ingested with corrections (a day
emptied, a price changed, an event added to a crossing session, and a late event: January's
last second, which first came inside February's file, where ingestion quarantines it). After
each step `build_warehouse` runs as `ecom warehouse` does, incrementally; at each checkpoint
every silver and gold table is read, the same warehouse is rebuilt with a full refresh and
read again, and the two must be equal row for row: exactly, floats to a relative 1e-9 (a sum
of floats may differ in its last bits between two runs of the same plan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.build import BuildResult, build_warehouse

SCALE = 0.001
SEED = 23
FLOAT_TOLERANCE = 1e-9
CATEGORY = 1487580005134238553
# Hand-built users: ids outside the generator's range, so nothing else touches their sessions.
CROSSING, EXACT_GAP, LABEL_NEXT_MONTH, CHAIN, CORRECTED = range(990_000_001, 990_000_006)


def line(at: str, event_type: str, user: int, product: int = 5_000_001, price: float = 3.5) -> str:
    """One raw CSV line in the real files' format."""
    return f"{at} UTC,{event_type},{product},{CATEGORY},,brand_x,{price:.2f},{user},s-{user}\n"


def _chain(start: datetime, end: datetime, user: int) -> list[tuple[datetime, str]]:
    """An event every 25 minutes from start to end: one session however long."""
    events, at = [], start
    while at <= end:
        events.append((at, line(at.strftime("%Y-%m-%d %H:%M:%S"), "view", user)))
        at += timedelta(minutes=25)
    return events


def boundary_lines() -> dict[str, list[str]]:
    """The hand-built users' lines, by the month file they belong to."""
    timed = [
        # One session from October's last second into November, carted on both sides.
        ("2019-10-31 23:40:00", "view", CROSSING),
        ("2019-10-31 23:59:59", "cart", CROSSING),
        ("2019-11-01 00:00:00", "view", CROSSING),
        ("2019-11-01 00:05:00", "cart", CROSSING),
        ("2019-11-01 00:20:00", "purchase", CROSSING),
        # Exactly the timeout across midnight (same session), then one second more (a new one).
        ("2019-11-30 23:59:59", "cart", EXACT_GAP),
        ("2019-12-01 00:29:59", "view", EXACT_GAP),
        ("2019-12-01 01:00:00", "view", EXACT_GAP),
        # A cart at 23:00 on New Year's Eve, bought the next morning in a new session: the
        # label of a December row comes from January's file.
        ("2019-12-31 22:50:00", "view", LABEL_NEXT_MONTH),
        ("2019-12-31 23:00:00", "cart", LABEL_NEXT_MONTH),
        ("2020-01-01 10:00:00", "purchase", LABEL_NEXT_MONTH),
        # A session that corrections will change on both sides of November's start.
        ("2019-10-31 23:59:59", "cart", CORRECTED),
        ("2019-11-01 00:29:59", "view", CORRECTED),
    ]
    chain = _chain(datetime(2020, 1, 30, 12), datetime(2020, 2, 1, 0, 30), CHAIN)
    chain.append((datetime(2020, 1, 31, 23, 59, 59), line("2020-01-31 23:59:59", "cart", CHAIN)))
    by_month: dict[str, list[str]] = {}
    for at, event_type, user in timed:
        stamp = datetime.strptime(at, "%Y-%m-%d %H:%M:%S")
        by_month.setdefault(stamp.strftime("%Y-%b"), []).append(line(at, event_type, user))
    for stamp, text in chain:
        by_month.setdefault(stamp.strftime("%Y-%b"), []).append(text)
    return by_month


# January's last second, which arrives late: first inside February's file (quarantined there:
# a month's file holds that month's events only), then in January's corrected file.
LATE_EVENT = line("2020-01-31 23:59:59", "purchase", CHAIN, price=9.0)


def write_raw(raw_dir: Path) -> None:
    """The generator's five months plus the hand-built users, and the late event in February."""
    generate(raw_dir, scale=SCALE, seed=SEED)
    for month, lines in boundary_lines().items():
        with (raw_dir / f"{month}.csv").open("a") as handle:
            handle.writelines(lines)
    with (raw_dir / "2020-Feb.csv").open("a") as handle:
        handle.write(LATE_EVENT)


def correct_november(raw_dir: Path) -> None:
    """A re-delivery of November: the 15th's events withdrawn (a day left empty), one price
    corrected, and an event added to the session that crosses from October."""
    path = raw_dir / "2019-Nov.csv"
    header, *rows = path.read_text().splitlines(keepends=True)
    kept = [r for r in rows if not r.startswith("2019-11-15 ")]
    assert len(kept) < len(rows), "the generated November has events on the 15th"
    kept = [r.replace(",3.50,", ",4.25,") if f",{CORRECTED}," in r else r for r in kept]
    kept.append(line("2019-11-01 00:45:00", "cart", CORRECTED))
    path.write_text("".join([header, *kept]))


def correct_january(raw_dir: Path) -> None:
    """A re-delivery of January that holds the late event (which reached February's file)."""
    with (raw_dir / "2020-Jan.csv").open("a") as handle:
        handle.write(LATE_EVENT)


@dataclass(frozen=True)
class Step:
    """Change raw files (or not), ingest months, build; `checkpoint`: compare with a full build."""

    label: str
    months: tuple[str, ...]
    mode: str
    edit: Callable[[Path], None] | None = None
    checkpoint: bool = False


def correct_november_and_january(raw_dir: Path) -> None:
    correct_november(raw_dir)
    correct_january(raw_dir)


STEPS = (
    Step("October, into an empty warehouse", ("2019-Oct",), "full"),
    Step("November", ("2019-Nov",), "incremental"),
    Step("December", ("2019-Dec",), "incremental"),
    Step("February before January", ("2020-Feb",), "incremental"),
    Step("January after February", ("2020-Jan",), "incremental", checkpoint=True),
    Step("nothing new", (), "unchanged"),
    Step(
        "November and January re-delivered",
        ("2019-Nov", "2020-Jan"),
        "incremental",
        correct_november_and_january,
        checkpoint=True,
    ),
)


@dataclass(frozen=True)
class Done:
    step: Step
    result: BuildResult
    # What dbt ran for int_session_events in the step's build (DuckDB's delete and insert,
    # BigQuery's merge), and at a checkpoint every table before and after a full refresh.
    int_session_events_sql: str = ""
    incremental: dict[str, pl.DataFrame] | None = None
    full: dict[str, pl.DataFrame] | None = None


def run_steps(
    settings: Settings, build: Callable[..., BuildResult] = build_warehouse
) -> Iterator[Done]:
    """Every step in order: ingest, build incrementally; at a checkpoint, read every table,
    rebuild with a full refresh and read them again."""
    for step in STEPS:
        if step.edit is not None:
            step.edit(settings.raw_dir)
        if step.months:
            ingest(settings, list(step.months))
        result = build(settings)
        ran = next(result.target_path.glob("run/**/int_session_events.sql"), None)
        sql = ran.read_text() if result.nodes and ran is not None else ""
        if not step.checkpoint:
            yield Done(step, result, sql)
            continue
        incremental = snapshot(settings)
        build(settings, full_refresh=True)
        yield Done(step, result, sql, incremental, snapshot(settings))


def tables(settings: Settings) -> list[tuple[str, str]]:
    """(layer, name) of every table and view of silver and gold."""
    wh = connect(settings)
    if settings.warehouse == "bigquery":
        client = wh.client  # type: ignore[attr-defined]
        return sorted(
            (layer, t.table_id)
            for layer in ("silver", "gold")
            for t in client.list_tables(f"{settings.gcp_project}.{wh.datasets[layer]}")  # type: ignore[attr-defined]
        )
    rows = wh.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('silver', 'gold') order by all"
    )
    return [tuple(r) for r in rows.iter_rows()]  # type: ignore[misc]


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns by name, instants in UTC, rows sorted by every column that is not a float."""
    frame = frame.select(sorted(frame.columns)).with_columns(
        pl.col(pl.Datetime).dt.convert_time_zone("UTC")
    )
    keys = [c for c, t in frame.schema.items() if not t.is_float()]
    return frame.sort(keys, nulls_last=True)


def snapshot(settings: Settings) -> dict[str, pl.DataFrame]:
    wh = connect(settings)
    return {
        f"{layer}.{name}": canonical(wh.query(f"select * from {wh.table(layer, name)}"))  # type: ignore[arg-type]
        for layer, name in tables(settings)
    }


def assert_equal_tables(got: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    assert sorted(got) == sorted(expected)
    for name, frame in expected.items():
        assert frame.height > 0, f"{name} is empty: the comparison would prove nothing"
        assert got[name].columns == frame.columns, name
        assert_frame_equal(
            got[name], frame, check_exact=False, rel_tol=FLOAT_TOLERANCE, abs_tol=0.0
        )


def assert_checkpoint_equals_full_refresh(checkpoint: Done, required: set[str]) -> None:
    """At a checkpoint, every table the incremental builds left equals a full refresh's; the
    `required` tables are among them (so a table missing from both cannot pass unseen)."""
    assert checkpoint.incremental is not None and checkpoint.full is not None
    assert required <= set(checkpoint.full)
    assert_equal_tables(checkpoint.incremental, checkpoint.full)


def first_rebuilt_day(done: Done) -> date | None:
    return None if done.result.plan is None else done.result.plan.rebuild_from
