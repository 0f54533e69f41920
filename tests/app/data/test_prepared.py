"""The default page prepared while the server starts: the very page the first visit would
compute, handed over once and only while fresh."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from streamlit_app.data import prepared
from tests.app.conftest import Pipeline


def test_the_prepared_page_is_the_first_visits_once(
    pipeline_run: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = pipeline_run.settings
    key = s.model_dump_json()
    experiment = prepared.default_experiment(s)
    assert prepared.take(key, experiment) is None
    assert prepared.prepare(s) > 0
    assert prepared.take(key, "aa-standing") is None  # another experiment: not prepared
    bounds, page = prepared.take(key, experiment)
    fresh_bounds, fresh_page = prepared.default_page(s, experiment)
    assert bounds == fresh_bounds
    assert page.readout.verdict == fresh_page.readout.verdict
    # float sums may differ in the last bit between two runs of the same query
    assert_frame_equal(page.kpi_frame(), fresh_page.kpi_frame(), rel_tol=1e-9)
    assert prepared.take(key, experiment) is None  # handed over once
    prepared.prepare(s)
    monkeypatch.setattr(prepared, "MAX_AGE_SECONDS", -1.0)
    assert prepared.take(key, experiment) is None  # too old: the visit queries again
