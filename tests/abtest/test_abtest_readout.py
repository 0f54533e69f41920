"""The readout on a real DuckDB gold layer: SQL sums against figures recomputed from the same
frame in Python, statistics against scipy on those values, and every output file."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline.abtest import ReadoutConfig, run_abtest
from pipeline.abtest.readout import week_end_labels
from pipeline.settings import Settings
from tests.abtest.abtest_gold import Gold, simulate, write_gold


@pytest.fixture(scope="module")
def gold() -> Gold:
    return simulate(4_000, seed=1)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, gold: Gold):
    """One readout shared by the tests below (they only read it)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("abtest_readout") / "data")
    write_gold(gold, settings.warehouse_path)
    done = run_abtest(
        settings, ReadoutConfig(winsorize_at=0.95, sequential_tuning=8_000), keys=["checkout"]
    )
    return done["checkout"]


def group(users: pl.DataFrame, name: str, exposed_only: bool = False) -> pl.DataFrame:
    g = users.filter(pl.col("experiment_group") == name)
    return g.filter(pl.col("is_exposed")) if exposed_only else g


def test_primary_population_is_users_who_reached_the_cart(gold, outputs) -> None:
    r = outputs.readout
    c, t = group(gold.users, "control", True), group(gold.users, "treatment", True)
    conv = r.primary.conversion
    assert (conv.control.n, conv.control.successes) == (c.height, int(c["converted"].sum()))
    assert (conv.treatment.n, conv.treatment.successes) == (t.height, int(t["converted"].sum()))
    assert r.primary.srm.p_value == pytest.approx(stats.chisquare([c.height, t.height]).pvalue)
    everyone = r.all_users.conversion
    assert everyone.control.n + everyone.treatment.n == gold.users.height
    table = [[conv.control.successes, c.height - conv.control.successes]]
    table.append([conv.treatment.successes, t.height - conv.treatment.successes])
    assert conv.yates.p_value == pytest.approx(stats.chi2_contingency(table).pvalue)
    # Injected truth over both groups: the configured rate (experiments.yml's 5% of carts) on
    # the carts of everyone who would not have bought, over every exposed user.
    both = pl.concat([c, t])
    left = both.filter(~pl.col("converted_without_injection"))["total_carts"].to_numpy()
    gain = float((1 - 0.95 ** left.astype(float)).sum())
    assert r.truth.absolute == pytest.approx(gain / both.height, rel=1e-12)
    baseline = both["converted_without_injection"].mean()
    assert r.truth.baseline == pytest.approx(baseline, rel=1e-12)
    assert r.truth.relative == pytest.approx(gain / both.height / baseline, rel=1e-12)
    assert r.truth.control_injected_converters == 0


def test_cuped_uses_each_users_pre_period(gold, outputs) -> None:
    r = outputs.readout
    c, t = group(gold.users, "control", True), group(gold.users, "treatment", True)
    y = np.r_[c["converted"].to_numpy(), t["converted"].to_numpy()].astype(float)
    x = np.r_[c["pre_converted"].to_numpy(), t["pre_converted"].to_numpy()].astype(float)
    # Pooled theta as gbstats: Cov(y, x) (n - 1) over p(1 - p) of x (n): both arms together.
    n = len(y)
    theta = np.cov(y, x)[0, 1] / (x.mean() * (1 - x.mean()))
    assert r.cuped.theta == pytest.approx(theta, rel=1e-9)
    adjusted = (t["converted"].mean() - theta * t["pre_converted"].mean()) - (
        c["converted"].mean() - theta * c["pre_converted"].mean()
    )
    assert r.cuped.adjusted.absolute.estimate == pytest.approx(adjusted, rel=1e-9)
    assert r.cuped.variance_reduction > 0.01  # the simulated pre-period predicts buying
    assert r.cuped.adjusted.absolute.std_error < r.cuped.unadjusted.absolute.std_error
    assert n == r.primary.conversion.control.n + r.primary.conversion.treatment.n


def test_revenue_winsorization_and_orders_match_numpy(gold, outputs) -> None:
    r = outputs.readout
    value = gold.users["revenue"].to_numpy()
    is_t = (gold.users["experiment_group"] == "treatment").to_numpy()
    ref = stats.ttest_ind(value[is_t], value[~is_t], equal_var=False)
    assert r.revenue.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # The cap is the percentile over users with revenue (GrowthBook's ignoreZeros).
    cap = np.quantile(value[value != 0], 0.95)
    assert r.revenue_cap == pytest.approx(cap)
    capped = np.minimum(value, cap)
    ref_w = stats.ttest_ind(capped[is_t], capped[~is_t], equal_var=False)
    assert r.revenue_winsorized.t_statistic == pytest.approx(ref_w.statistic, rel=1e-9)
    orders = gold.users["total_orders"].to_numpy()
    items = gold.users["total_purchases"].to_numpy()
    assert r.revenue_per_order.treatment_mean == pytest.approx(
        value[is_t].sum() / orders[is_t].sum()
    )
    assert r.revenue_per_item.treatment_mean == pytest.approx(value[is_t].sum() / items[is_t].sum())
    assert r.revenue_per_order.treatment_mean > r.revenue_per_item.treatment_mean


def test_guardrails_and_bayesian_are_reported(gold, outputs) -> None:
    r = outputs.readout
    assert [g.metric for g in r.guardrails] == [
        "revenue_per_user",
        "remove_from_cart_rate",
        "sessions_per_user",
    ]
    removes = r.guardrails[1].comparison
    t = group(gold.users, "treatment", True)
    assert removes.treatment_mean == pytest.approx(
        t["total_removes"].sum() / t["total_carts"].sum()
    )
    assert all(g.status in ("pass", "fail", "inconclusive") for g in r.guardrails)
    b = r.bayesian["conversion"]
    assert 0 <= b.chance_to_win <= 1 and b.loss_if_shipped >= 0 and b.loss_if_kept >= 0


def test_weekly_looks_count_from_the_first_cart(gold, outputs) -> None:
    looks = outputs.readout.sequential.looks
    exposed = gold.users.filter(pl.col("is_exposed"))
    assert len(looks) == int(exposed["first_cart_week"].max()) + 1
    for look in (looks[0], looks[3], looks[-1]):
        for name, counted in (("control", look.control), ("treatment", look.treatment)):
            g = exposed.filter(pl.col("experiment_group") == name)
            seen = g.filter(pl.col("first_cart_week") <= look.week)
            conv = seen.filter(pl.col("first_purchase_week") <= look.week)
            assert (counted.n, counted.successes) == (seen.height, conv.height)
    last = looks[-1]
    assert last.treatment == outputs.readout.primary.conversion.treatment


def test_week_labels_run_from_the_start_day_to_the_datas_last_day(gold, outputs) -> None:
    r = outputs.readout
    assert r.experiment.start == "2019-10-01"
    assert r.week_ends[0] == "2019-10-07"
    assert r.week_ends[-1] == r.experiment.end
    labels = week_end_labels(date(2019, 10, 1), date(2020, 2, 29), 22)
    assert (labels[0], labels[-2], labels[-1]) == ("2019-10-07", "2020-02-24", "2020-02-29")
    assert (
        week_end_labels(date(2019, 10, 1), None, 22)[-1]
        == (date(2019, 10, 1) + timedelta(days=22 * 7 - 1)).isoformat()
    )


def test_segments_are_defined_at_entry(gold, outputs) -> None:
    segments = {(s.dimension, s.segment): s for s in outputs.readout.segments}
    exposed = gold.users.filter(pl.col("is_exposed"))
    months = set(exposed["entry_month"])
    assert {k for k in segments if k[0] == "entry_month"} == {("entry_month", m) for m in months}
    returning = exposed.filter(pl.col("is_returning") & (pl.col("experiment_group") == "control"))
    seg = segments[("user_type", "returning")].result.control
    assert (seg.n, seg.successes) == (returning.height, int(returning["converted"].sum()))
    new = segments[("user_type", "new")].result
    assert (
        new.control.n
        + new.treatment.n
        + seg.n
        + segments[("user_type", "returning")].result.treatment.n
        == exposed.height
    )
    raw = [s.result.p_value for s in outputs.readout.segments]
    smallest = min(range(len(raw)), key=raw.__getitem__)
    assert outputs.readout.segments[smallest].adjusted_p == pytest.approx(
        min(1, len(raw) * raw[smallest])
    )


def test_outputs_open_with_the_decision_and_end_with_the_glossary(outputs) -> None:
    document = json.loads(outputs.json.read_text())
    assert document["kind"] == "ecom.abtest.readout"
    assert document["schema_version"] == "3.0"
    assert document["decision"]["outcome"] in ("ship", "do_not_ship", "keep_running", "investigate")
    assert document["experiment"]["key"] == "checkout"
    assert document["experiment"]["name"] == "Redesigned checkout"
    assert document["experiment"]["uplift_rate"] == 0.05
    assert document["sequential"]["tuning"] == 8_000
    assert "NaN" not in outputs.json.read_text()
    md = outputs.markdown.read_text()
    lines = md.splitlines()
    assert lines[0] == "# Experiment readout: Redesigned checkout"
    assert lines[2].startswith("## Decision: ")
    assert lines[4].startswith("**") and outputs.readout.decision.headline in lines[4]
    block = "\n".join(lines[:14])
    for item in ("**Rule:**", "**Hypothesis:**", "**Experiment:** `checkout`", "2019-10-01 to"):
        assert item in block
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[-1] == "## Glossary"
    for term in ("**pp**", "**interval (CI)**", "**SRM**", "**sequential**"):
        assert term in md.split("## Glossary")[1]
    for heading in ("Sample ratio", "CUPED", "Guardrails", "Bayesian", "Power", "Peeking-safe"):
        assert heading in md
    for heading in ("## Checks below the whole population", "## Families of tests"):
        assert heading in md
    assert "nan" not in md.lower()
    for png in (outputs.conversion_png, outputs.lift_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Cumulative lift" in outputs.html.read_text()


def test_readout_json_is_its_published_schema(outputs) -> None:
    """readout.json is ReadoutDocument's dump: its JSON Schema (the package's OUTPUT_MODELS)
    names every key the file holds, in order, and the file reads back into the model unchanged."""
    from pipeline.abtest import OUTPUT_MODELS
    from pipeline.abtest.document import ReadoutDocument

    assert ReadoutDocument in OUTPUT_MODELS
    text = outputs.json.read_text()
    document = json.loads(text)
    schema = ReadoutDocument.model_json_schema()
    assert list(document) == list(schema["properties"])
    assert set(schema["required"]) <= set(document)
    assert {"Conversion", "Means", "Guardrail", "Look"} <= set(schema["$defs"])
    assert ReadoutDocument.model_validate_json(text).model_dump(mode="json") == document


def test_the_dashboards_filter_restricts_every_query(gold, tmp_path) -> None:
    from pipeline.abtest import compute_readout
    from pipeline.experiment.config import load_experiments
    from pipeline.warehouse import connect

    settings = Settings(data_dir=tmp_path / "data")
    write_gold(gold, settings.warehouse_path)
    readout = compute_readout(
        connect(settings),
        ReadoutConfig(),
        load_experiments(settings).get("checkout"),
        where="entry_month = '2019-10' and is_returning",
    )
    subset = gold.users.filter(
        (pl.col("entry_month") == "2019-10") & pl.col("is_returning") & pl.col("is_exposed")
    )
    conv = readout.primary.conversion
    assert conv.control.n + conv.treatment.n == subset.height
    assert readout.sequential.looks[-1].control == conv.control
    assert {s.segment for s in readout.segments if s.dimension == "entry_month"} == {"2019-10"}
