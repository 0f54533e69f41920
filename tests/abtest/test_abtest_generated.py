"""End to end on generated data at tiny scale: generate -> ingest -> dbt build -> readout.

The readout must rediscover the uplift injected at ingestion, with an interval that covers the
injected truth, while the placebo comparison (Treatment without its injected purchases) and
the SRM check stay quiet.
"""

from __future__ import annotations

import pytest

from pipeline.abtest import AbtestOutputs, ReadoutConfig, run_abtest
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.warehouse.build import build_warehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> AbtestOutputs:
    settings = Settings(data_dir=tmp_path_factory.mktemp("abtest_generated") / "data")
    generate(settings.raw_dir, scale=0.01, seed=42)
    ingest(settings)
    build_warehouse(settings)
    return run_abtest(settings, ReadoutConfig(winsorize_at=0.99, sequential_tuning=16_000))


def test_detects_the_injected_uplift_and_covers_the_truth(generated: AbtestOutputs) -> None:
    r = generated.readout
    assert not r.srm.flagged
    assert r.conversion.p_value < 0.001 and r.conversion.absolute.estimate > 0
    assert r.truth.absolute > 0 and r.truth.control_injected_converters == 0
    assert r.truth.absolute_covered and r.truth.relative_covered
    assert r.truth.placebo.p_value > 0.001
    assert r.verdict.startswith("Treatment raised conversion")


def test_weekly_view_spans_the_five_months(generated: AbtestOutputs) -> None:
    s = generated.readout.sequential
    assert 21 <= len(s.looks) <= 23  # 2019-10-01 .. 2020-02-29 is 152 days
    assert generated.readout.week_ends[0] == "2019-10-07"
    assert generated.readout.week_ends[-1] == "2020-02-29"  # the data's last day
    last = s.looks[-1]
    assert (last.treatment.n, last.treatment.successes) == (
        generated.readout.conversion.treatment.n,
        generated.readout.conversion.treatment.successes,
    )
    assert s.first_sequential_rejection is not None
    assert s.first_fixed_rejection <= s.first_sequential_rejection


def test_segments_cover_every_month_and_both_user_types(generated: AbtestOutputs) -> None:
    names = {(s.dimension, s.segment) for s in generated.readout.segments}
    months = {"2019-10", "2019-11", "2019-12", "2020-01", "2020-02"}
    assert {("month", m) for m in months} | {
        ("user_type", "new"),
        ("user_type", "returning"),
    } == names
    assert all(s.adjusted_p is not None for s in generated.readout.segments)
