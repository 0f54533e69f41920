"""The live mode's data layer without Streamlit: the sessions offered and their replays on the
run's warehouse, the click-by-click builder, and the reasons (the probability-scale waterfall
adds up to the answered probability; every feature has a human name and reads in words)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.serving import features as session_contract
from pipeline.serving import moment
from pipeline.serving.calibration import Platt
from pipeline.warehouse import connect
from streamlit_app.data import live, reasons
from tests.app.conftest import Pipeline


@pytest.fixture(scope="module")
def offered(pipeline_run: Pipeline):
    wh = connect(pipeline_run.settings)
    return wh, wh.query(live.sessions_sql(wh))


def test_the_picker_offers_recent_sessions_of_both_outcomes(offered) -> None:
    wh, choices = offered
    assert choices.height == 2 * live.PER_OUTCOME
    assert choices["abandoned"].sum() == live.PER_OUTCOME
    assert choices["event_count"].max() <= live.MAX_EVENTS
    assert choices["event_count"].min() >= live.MIN_EVENTS
    every = wh.query(
        "select session_id, any_value(abandoned) as abandoned from gold.fct_cart_moments "
        "group by session_id"
    )
    assert set(choices["session_id"]) <= set(every["session_id"])
    starts = choices["session_start"].to_list()
    assert starts == sorted(starts, reverse=True)


def test_a_replay_is_what_a_tracker_sent_at_each_event(offered) -> None:
    wh, choices = offered
    checked = stopped = 0
    for row in choices.iter_rows(named=True):
        events = wh.query(live.events_sql(wh, row["user_id"], row["session_number"]))
        assert events.height == row["event_count"]
        replay = live.replay(row, events)
        raw = events["original_event_type"].to_list()
        first_cart = raw.index("cart")
        assert replay.steps[0].number == first_cart + 1
        end = events.height
        if replay.bought_at:  # before a real purchase, at a converted add-to-cart
            end = replay.bought_at - (raw[replay.bought_at - 1] == "purchase")
        assert [s.number for s in replay.steps] == list(range(first_cart + 1, end + 1))
        stopped += replay.bought_at is not None
        for step in replay.steps:
            sent = step.body["events"]
            assert [e["event_type"] for e in sent] == raw[: step.number]
            assert "purchase" not in raw[: step.number]
            assert "purchase" not in events["event_type"].to_list()[: step.number - 1]
            assert step.body["experiment_group"] == row["experiment_group"]
            us = [moment.epoch_us(datetime.fromisoformat(e["event_time"])) for e in sent]
            assert us == events["event_time_us"].to_list()[: step.number]
        history = replay.steps[0].body["history"]
        assert history is None or history["prior_sessions"] == row["prior_sessions"]
        checked += 1
    assert checked == choices.height and stopped > 0


def test_the_builder_follows_the_clicks() -> None:
    built = live.Built(start=datetime(2026, 3, 2, 14, tzinfo=UTC))
    with pytest.raises(ValueError, match="the cart is empty"):
        built.add("remove_from_cart", 5.0, 30)
    built = built.add("view", 20.0, 30).add("view", 7.5, 60).add("cart", 99.0, 10)
    times = [e["event_time"] for e in built.events]
    assert times == ["2026-03-02T14:00:00Z", "2026-03-02T14:01:00Z", "2026-03-02T14:01:10Z"]
    assert built.events[2]["product_id"] == 2 and built.events[2]["price"] == 7.5  # last viewed
    assert len(built.steps()) == 1 and built.steps()[0].number == 3
    built = built.add("remove_from_cart", 1.0, 5)
    assert built.events[-1]["product_id"] == 2 and built.in_cart() == []
    assert built.undo().in_cart() == [built.events[2]]
    assert live.Built(start=built.start).steps() == ()


@pytest.mark.parametrize(("slope", "intercept"), [(1.0, 0.0), (0.86, 0.25), (1.3, -0.4)])
def test_the_probability_waterfall_ends_at_the_answered_probability(slope, intercept) -> None:
    rng = np.random.default_rng(int(10 * slope))
    contributions = [
        {"feature": name, "value": float(rng.integers(0, 5)), "shap_value": float(s)}
        for name, s in zip(moment.FEATURES, rng.normal(0, 0.4, len(moment.FEATURES)), strict=True)
    ]
    base_value = 1.2
    margin = base_value + math.fsum(c["shap_value"] for c in contributions)
    answered = Platt(slope, intercept).probability(margin)
    base, bars = reasons.probability_waterfall(contributions, base_value, slope, intercept)
    calibration = {"slope": slope, "intercept": intercept, "fitted_on": "2020-02"}
    answer = {"contributions": contributions, "base_value": base_value, "calibration": calibration}
    assert reasons.explained(answer) == (base, bars)  # /sessions/score's explanation
    if (slope, intercept) == (1.0, 0.0):  # /predict's: log-odds, no calibration
        assert reasons.explained({"contributions": contributions, "base_value": base_value}) == (
            base,
            bars,
        )
    assert base == pytest.approx(Platt(slope, intercept).probability(base_value), abs=1e-15)
    assert bars[0].start == base and bars[-1].end == pytest.approx(answered, abs=1e-12)
    for before, after in itertools.pairwise(bars):
        assert after.start == before.end
    sizes = [abs(b.shap) for b in bars]
    assert sizes == sorted(sizes, reverse=True)
    assert all((b.change > 0) == (b.shap * slope > 0) for b in bars)  # the sigmoid keeps signs
    shown = reasons.shown_bars(bars, count=5)
    assert len(shown) == 6 and shown[-1].name == f"The other {len(bars) - 5} features"
    assert shown[-1].end == bars[-1].end and shown[-1].start == bars[5].start
    sentences = reasons.top_reasons(bars)
    assert len(sentences) <= 3
    for sentence, bar in zip(sentences, bars, strict=False):
        verb = "raises" if bar.change > 0 else "lowers"
        assert f" {verb} the risk ({100 * bar.change:+.1f} points)" in sentence
        assert not sentence[0].islower()


def test_every_feature_has_a_human_name_and_reads_in_words() -> None:
    for name in (*moment.FEATURES, *session_contract.FEATURES):
        assert reasons.human_name(name) != name and "_" not in reasons.human_name(name)
        feature = moment.BY_NAME.get(name) or session_contract.BY_NAME[name]
        for value in (feature.minimum if feature.minimum >= 0 else 0, 1.0, None):
            text = reasons.phrase(name, value)
            assert text and "None" not in text and "nan" not in text, (name, value, text)
            assert reasons.shown_value(name, value)
    assert reasons.phrase("seconds_since_session_start", 840.0) == (
        "a 14 min session without a purchase"
    )
    assert reasons.phrase("prior_sessions", None) == "no history known for this shopper"
    assert reasons.phrase("weekday_utc", 1.0) == "shopping on a Monday"
    assert reasons.phrase("views_so_far", 0.0) == "no product views so far"
    assert reasons.phrase("distinct_categories_viewed", 1.0) == "1 category browsed"
    assert reasons.shown_value("cart_price_rank", 0.25) == "25%"
    assert (reasons.duration(45), reasons.duration(3_900), reasons.duration(5_700)) == (
        "45 s",
        "65 min",
        "1 h 35 min",
    )
