"""The readout on a real DuckDB gold layer: SQL counts against counts recomputed from the same
frames in Python, statistics against scipy on those counts, and every output file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline.abtest import ReadoutConfig, run_abtest
from pipeline.abtest.queries import WeeklyCounts
from pipeline.abtest.readout import week_end_labels
from pipeline.settings import Settings
from pipeline.stats.sufficient import Proportion
from tests.abtest.abtest_gold import Gold, simulate, write_gold


@pytest.fixture(scope="module")
def gold() -> Gold:
    return simulate(4_000, seed=1)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, gold: Gold):
    """One readout shared by the tests below (they only read it)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("abtest_readout") / "data")
    write_gold(gold, settings.warehouse_path)
    return run_abtest(settings, ReadoutConfig(winsorize_at=0.95, sequential_tuning=8_000))


def group_counts(users: pl.DataFrame, group: str) -> tuple[int, int, int]:
    g = users.filter(pl.col("experiment_group") == group)
    return g.height, int(g["converted"].sum()), int(g["converted_without_injection"].sum())


def test_conversion_counts_and_tests_match_an_independent_computation(gold, outputs) -> None:
    r = outputs.readout
    n_c, conv_c, _ = group_counts(gold.users, "control")
    n_t, conv_t, conv_t_organic = group_counts(gold.users, "treatment")
    assert (r.conversion.control.n, r.conversion.control.successes) == (n_c, conv_c)
    assert (r.conversion.treatment.n, r.conversion.treatment.successes) == (n_t, conv_t)
    table = [[conv_c, n_c - conv_c], [conv_t, n_t - conv_t]]
    assert r.conversion.yates.p_value == pytest.approx(stats.chi2_contingency(table).pvalue)
    assert r.srm.p_value == pytest.approx(stats.chisquare([n_c, n_t]).pvalue)
    # The injected truth comes from the same users without their injected purchases.
    assert r.truth.treatment_rate_without_injection == pytest.approx(conv_t_organic / n_t)
    assert r.truth.absolute == pytest.approx((conv_t - conv_t_organic) / n_t)
    assert r.truth.control_injected_converters == 0


def test_revenue_and_winsorization_match_numpy(gold, outputs) -> None:
    r = outputs.readout
    value = gold.users["lifetime_value"].to_numpy()
    is_t = (gold.users["experiment_group"] == "treatment").to_numpy()
    ref = stats.ttest_ind(value[is_t], value[~is_t], equal_var=False)
    assert r.revenue.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    cap = np.quantile(value, 0.95)  # linear interpolation, as DuckDB's quantile_cont
    assert r.revenue_cap == pytest.approx(cap)
    capped = np.minimum(value, cap)
    ref_w = stats.ttest_ind(capped[is_t], capped[~is_t], equal_var=False)
    assert r.revenue_winsorized.t_statistic == pytest.approx(ref_w.statistic, rel=1e-9)
    orders = gold.users["total_purchases"].to_numpy()
    assert r.order_value.treatment_mean == pytest.approx(value[is_t].sum() / orders[is_t].sum())


def test_weekly_looks_are_cumulative_by_first_seen_and_first_purchase(gold, outputs) -> None:
    looks = outputs.readout.sequential.looks
    users = gold.users
    start = users["first_seen_at"].min().replace(hour=0, minute=0, second=0, microsecond=0)
    last_event = max(users["first_seen_at"].max(), users["first_purchase_at"].max())
    assert len(looks) == (last_event - start).days // 7 + 1
    for look in (looks[0], looks[4], looks[-1]):
        end = start + timedelta(days=7 * (look.week + 1))
        for group, counted in (("control", look.control), ("treatment", look.treatment)):
            g = users.filter(pl.col("experiment_group") == group)
            seen = g.filter(pl.col("first_seen_at") < end)
            conv = seen.filter(pl.col("first_purchase_at") < end)
            assert (counted.n, counted.successes) == (seen.height, conv.height)
    last = looks[-1]
    r = outputs.readout
    assert (last.control.n, last.control.successes) == (
        r.conversion.control.n,
        r.conversion.control.successes,
    )
    assert last.sequential_ci.lower < last.fixed_ci.lower


def test_last_look_ends_on_the_datas_last_day(gold, outputs) -> None:
    """Weeks run from the first arrival; the last one is cut short by the end of the data, so
    its label is the data's last day (latest last_seen_at), not the end of a 7-day week."""
    r = outputs.readout
    users = gold.users
    start = users["first_seen_at"].min().date()
    last_day = users["last_seen_at"].max().date()
    assert len(r.week_ends) == len(r.sequential.looks)
    assert r.week_ends[-1] == last_day.isoformat()
    assert all(
        end == (start + timedelta(days=7 * (w + 1) - 1)).isoformat()
        for w, end in enumerate(r.week_ends[:-1])
    )
    assert r.week_ends[-2] < r.week_ends[-1]
    # The label moved, the counts did not: the last look holds every user and converter.
    last = r.sequential.looks[-1]
    assert (last.treatment.n, last.treatment.successes) == (
        r.conversion.treatment.n,
        r.conversion.treatment.successes,
    )
    assert f"| {len(r.week_ends)} | {last_day.isoformat()} |" in outputs.markdown.read_text()


def test_last_look_label_is_cut_to_the_data_end() -> None:
    """A data end inside the last week labels it with that day (2019-10-01 + 22 weeks would
    end 2020-03-02; five months of data end 2020-02-29)."""
    started = int(datetime(2019, 10, 1, tzinfo=UTC).timestamp()) * 1_000_000
    ended = int(datetime(2020, 2, 29, 23, 59, 59, tzinfo=UTC).timestamp()) * 1_000_000
    looks = tuple((Proportion(10 * w, w), Proportion(10 * w, w)) for w in range(1, 23))
    labels = week_end_labels(WeeklyCounts(started, looks, ended))
    assert (labels[0], labels[-2], labels[-1]) == ("2019-10-07", "2020-02-24", "2020-02-29")
    assert week_end_labels(WeeklyCounts(started, looks))[-1] == "2020-03-02"  # no end known


def test_segments_count_users_once_per_segment(gold, outputs) -> None:
    segments = {(s.dimension, s.segment): s for s in outputs.readout.segments}
    sessions = gold.sessions.join(gold.users.select("user_id", "first_month"), on="user_id")
    user_months = sessions.group_by(
        "user_id", "experiment_group", "session_month", "first_month"
    ).agg((pl.col("total_purchases") > 0).any().alias("converted"))
    oct_treatment = user_months.filter(
        (pl.col("session_month") == "2019-10") & (pl.col("experiment_group") == "treatment")
    )
    seg = segments[("month", "2019-10")].result.treatment
    assert (seg.n, seg.successes) == (oct_treatment.height, int(oct_treatment["converted"].sum()))
    returning = (
        user_months.filter(pl.col("session_month") != pl.col("first_month"))
        .filter(pl.col("experiment_group") == "control")
        .group_by("user_id")
        .agg(pl.col("converted").any())
    )
    seg = segments[("user_type", "returning")].result.control
    assert (seg.n, seg.successes) == (returning.height, int(returning["converted"].sum()))
    new_users = segments[("user_type", "new")].result
    assert new_users.control.n + new_users.treatment.n == gold.users.height
    # Holm over every testable segment.
    raw = [s.result.p_value for s in outputs.readout.segments]
    m = len(raw)
    smallest = min(range(m), key=raw.__getitem__)
    assert outputs.readout.segments[smallest].adjusted_p == pytest.approx(min(1, m * raw[smallest]))


def test_outputs_are_written_and_readable(outputs) -> None:
    document = json.loads(outputs.json.read_text())
    assert document["kind"] == "ecom.abtest.readout"
    assert document["schema_version"] == "1.0"
    assert document["conversion"]["verdict_test"] == "yates"
    assert document["sequential"]["tuning"] == 8_000
    assert "NaN" not in outputs.json.read_text()
    md = outputs.markdown.read_text().splitlines()
    assert md[0].startswith("# Experiment readout")
    assert md[2].startswith("**") and "conversion" in md[2]
    text = "\n".join(md)
    for heading in ("Sample ratio", "Injected truth", "Welch", "Power", "Peeking-safe", "Segments"):
        assert heading in text
    assert "Holm" in text and "N* = 8,000" in text and "nan" not in text.lower()
    for png in (outputs.conversion_png, outputs.lift_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = outputs.html.read_text()
    assert html.count("plotly") > 10 and "Cumulative lift" in html
