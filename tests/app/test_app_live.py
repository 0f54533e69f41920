"""The Predictor's live mode through AppTest, against the real API serving the run's moment
model: a warehouse session replayed event by event, a session built with the buttons, the
reasons in words and the probability-scale waterfall; and what it says without a moment model."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from pipeline.warehouse import connect
from streamlit_app.data import live, reasons
from tests.app.apptest import metric, no_exception, open_app, texts
from tests.app.conftest import KEY_HEADER, Pipeline, serve_api

PREDICTOR = "Real-Time Predictor"
CHANCE = "Chance this cart is abandoned"


def direct(url: str, body: dict) -> dict:
    response = httpx.post(f"{url}/sessions/score", json=body, headers=KEY_HEADER, timeout=30)
    response.raise_for_status()
    return response.json()


def charts(at) -> list:
    return at.get("vega_lite_chart")


def bullets(answer: dict) -> str:
    _, bars = reasons.explained(answer["explanation"])
    return "\n".join(f"- {r}" for r in reasons.top_reasons(bars))


@pytest.fixture(scope="module")
def replays(pipeline_run: Pipeline) -> list[tuple[dict, live.Replay]]:
    """Every session the picker offers, replayed by the data layer on its own."""
    wh = connect(pipeline_run.settings)
    choices = wh.query(live.sessions_sql(wh)).to_dicts()
    return [
        (
            row,
            live.replay(row, wh.query(live.events_sql(wh, row["user_id"], row["session_number"]))),
        )
        for row in choices
    ]


def test_a_warehouse_session_is_replayed_event_by_event(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server, replays
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=PREDICTOR)
    no_exception(at)
    picker = at.selectbox(key="live_session")
    assert len(picker.options) == len(replays) > 20
    row, replay = replays[0]
    assert picker.value == 0 and picker.options[0] == live.session_label(row)
    answers = [direct(api_server.url, step.body) for step in replay.steps]
    last = answers[-1]
    assert metric(at, CHANCE) == f"{last['abandonment_probability']:.1%}"
    assert len(charts(at)) == 1
    frame = live.trajectory(replay.steps, answers)
    assert live.describe_trajectory(frame) in texts(at, "caption")
    assert bullets(last) in [m.value for m in at.markdown]
    verdict = "Intervene" if last["decision"]["intervene"] else "Don't intervene"
    shown = texts(at, "error") + texts(at, "success") + texts(at, "info")
    assert any(s.startswith(f"**{verdict}**") for s in shown), shown
    # explain an earlier event: its own score and reasons
    (slider,) = at.select_slider
    first = replay.steps[0].number
    at = slider.set_value(first).run()
    no_exception(at)
    assert metric(at, CHANCE) == f"{answers[0]['abandonment_probability']:.1%}"
    assert bullets(answers[0]) in [m.value for m in at.markdown]
    # the waterfall on the probability scale, with its text alternative
    at = at.toggle(key="live_waterfall").set_value(True).run()
    no_exception(at)
    assert len(charts(at)) == 2
    assert any(
        c.startswith("Waterfall chart on the probability scale") for c in texts(at, "caption")
    )


def test_a_replay_stops_before_the_purchase(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server, replays
) -> None:
    index, (_, replay) = next(
        (i, r) for i, r in enumerate(replays) if r[1].bought_at and len(r[1].steps) >= 2
    )
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=PREDICTOR)
    at = at.selectbox(key="live_session").set_value(index).run()
    no_exception(at)
    assert replay.steps[-1].number in (replay.bought_at - 1, replay.bought_at)
    assert any(f"bought at event {replay.bought_at}" in e.label for e in at.expander)
    answer = direct(api_server.url, replay.steps[-1].body)
    assert metric(at, CHANCE) == f"{answer['abandonment_probability']:.1%}"
    assert at.select_slider[0].options == [str(s.number) for s in replay.steps]


def test_a_session_built_with_the_buttons(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=PREDICTOR)
    at = at.radio(key="live_source").set_value("build").run()
    no_exception(at)
    assert not at.metric and any("first add-to-cart" in i for i in texts(at, "info"))
    at = at.button(key="live_remove").click().run()
    assert any("the cart is empty" in w for w in texts(at, "warning"))
    at.number_input(key="live_price").set_value(80.0)
    at.slider(key="live_gap").set_value(120)
    at = at.button(key="live_view").click().run()
    at = at.button(key="live_cart").click().run()
    no_exception(at)
    built: live.Built = at.session_state["live_built"]
    assert [e["event_type"] for e in built.events] == ["view", "cart"]
    assert built.events[1]["price"] == 80.0 and built.events[1]["product_id"] == 1
    answer = direct(api_server.url, built.steps()[-1].body)
    assert answer["features"]["seconds_since_session_start"] == 120.0
    assert answer["features"]["prior_sessions"] is None  # no history: scored as missing
    assert metric(at, CHANCE) == f"{answer['abandonment_probability']:.1%}"
    # the other checkout, and a known history, are other sessions with other scores
    at = at.radio(key="live_group").set_value("treatment").run()
    at = at.checkbox(key="live_known").check().run()
    no_exception(at)
    built = at.session_state["live_built"]
    assert built.group == "treatment" and built.history["prior_sessions"] == 3
    changed = direct(api_server.url, built.steps()[-1].body)
    assert metric(at, CHANCE) == f"{changed['abandonment_probability']:.1%}"
    assert changed["abandonment_probability"] != answer["abandonment_probability"]
    at = at.button(key="live_remove").click().run()
    at = at.button(key="live_undo").click().run()
    at = at.button(key="live_view").click().run()
    built = at.session_state["live_built"]
    assert [e["event_type"] for e in built.events] == ["view", "cart", "view"]
    assert len(at.select_slider[0].options) == 2  # scored from the add-to-cart on
    at = at.button(key="live_reset").click().run()
    assert at.session_state["live_built"].events == ()


def test_without_a_moment_model_the_live_mode_says_what_to_run(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(pipeline_run.settings.models_dir / "abandonment", models / "abandonment")
    for server in serve_api(
        pipeline_run.data_dir, tmp_path / "api.log", ECOM_MODELS_DIR=str(models)
    ):
        at = open_app(monkeypatch, pipeline_run.data_dir, server.url, tab=PREDICTOR)
        no_exception(at)
        (warning,) = [w for w in texts(at, "warning") if "Live scoring is unavailable" in w]
        assert "ecom train --family moment" in warning
        at = at.radio(key="p_mode").set_value("finished").run()  # the session model still works
        no_exception(at)
        assert metric(at, "Probability the cart is abandoned").endswith("%")
