"""End to end on generated data at tiny scale: generate -> ingest -> dbt build -> readout, with
the experiment settings on demand (one raw data set, three experiments):

- 5% uplift from a December start: the readout rediscovers it, the interval covers the injected
  truth, CUPED narrows the interval and still covers it, and the pre-period holds no injection;
- rate 0: a real A/A test through the whole pipeline, no effect and a clean sample ratio;
- the standing A/A experiment of experiments.yml (its own salt, assigned by the warehouse):
  no effect, no sample ratio mismatch at any level, balanced before its start;
- rate 0.005: a smaller true effect, and the power the readout states to detect it is the
  power replaying the experiment delivers.
"""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import numpy as np
import pytest

from pipeline.abtest import AbtestOutputs, ReadoutConfig, run_abtest
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.ingest.manifest import Manifest
from pipeline.settings import Settings
from pipeline.stats.frequentist import compare_conversion
from pipeline.stats.power import power_two_proportions
from pipeline.stats.sufficient import Proportion
from pipeline.warehouse.build import SCORING_SELECTOR, build_warehouse, run_dbt

pytestmark = pytest.mark.slow

DECEMBER = date(2019, 12, 1)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("abtest_raw")
    generate(folder, scale=0.01, seed=42)
    return folder


def pipeline(
    raw, tmp_path_factory, *, full_build: bool = False, **experiment
) -> tuple[Settings, dict[str, AbtestOutputs]]:
    """Ingest and build with the experiment settings, then read out. Only one build runs
    dbt's data and unit tests (`full_build`): the others need the models alone, faster."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("abtest_generated") / "data", **experiment)
    shutil.copytree(raw, settings.raw_dir)
    ingest(settings)
    if full_build:
        build_warehouse(settings)
    else:
        run_dbt(settings, "run", exclude=SCORING_SELECTOR)
    return settings, run_abtest(settings, ReadoutConfig(winsorize_at=0.99, sequential_tuning=5_000))


def checkout(run: tuple[Settings, dict[str, AbtestOutputs]]) -> AbtestOutputs:
    return run[1]["checkout"]


@pytest.fixture(scope="module")
def december(raw, tmp_path_factory):
    return pipeline(raw, tmp_path_factory, full_build=True, experiment_start=DECEMBER)


@pytest.fixture(scope="module")
def aa(raw, tmp_path_factory):
    return pipeline(raw, tmp_path_factory, uplift_rate=0.0)


@pytest.fixture(scope="module")
def small(raw, tmp_path_factory):
    return pipeline(raw, tmp_path_factory, uplift_rate=0.005)


def test_december_start_detects_the_uplift_and_covers_the_truth(december) -> None:
    r = checkout(december).readout
    assert not r.primary.srm.flagged and not r.all_users.srm.flagged
    conv = r.primary.conversion
    assert conv.p_value < 0.001 and conv.absolute.estimate > 0
    assert r.truth.absolute > 0 and r.truth.control_injected_converters == 0
    assert r.truth.absolute_covered and r.truth.relative_covered
    assert r.truth.placebo.p_value > 0.001
    # The exposed population concentrates the effect that all users dilute.
    assert r.truth.absolute > r.truth_all_users.absolute
    assert conv.absolute.estimate / conv.absolute.std_error > (
        r.all_users.conversion.absolute.estimate / r.all_users.conversion.absolute.std_error
    )
    assert (r.experiment.start, r.experiment.end) == ("2019-12-01", "2020-02-29")
    assert (
        r.experiment.start_setting == "2019-12-01" and r.experiment.settings_source == "manifests"
    )


def test_december_start_cuped_narrows_the_interval_and_covers_the_truth(december) -> None:
    r = checkout(december).readout
    assert r.cuped.message == "ok" and r.cuped.theta != 0
    assert r.cuped.variance_reduction > 0
    adjusted, unadjusted = r.cuped.adjusted.absolute, r.cuped.unadjusted.absolute
    assert adjusted.ci.upper - adjusted.ci.lower < unadjusted.ci.upper - unadjusted.ci.lower
    assert adjusted.ci.covers(r.truth.absolute)
    assert any(s.dimension == "user_type" and s.segment == "returning" for s in r.segments)


def test_december_start_leaves_the_pre_period_uninjected(december) -> None:
    settings, outputs = december[0], checkout(december)
    manifests = [Manifest.read(p) for p in sorted(settings.manifest_dir.glob("*.json"))]
    assert {m.experiment["start"] for m in manifests} == {"2019-12-01"}
    injected = {m.month: m.rows_injected for m in manifests}
    assert injected["2019-Oct"] == injected["2019-Nov"] == 0
    assert injected["2019-Dec"] > 0 and injected["2020-Feb"] > 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        early = con.execute(
            "select count(*) from bronze.events where is_injected "
            "and event_time < timestamptz '2019-12-01 00:00:00+00'"
        ).fetchone()[0]
        pre = con.execute(
            "select sum(pre_purchases), sum(case when is_returning then 1 else 0 end) "
            "from gold.fct_experiment_users where experiment_key = 'checkout'"
        ).fetchone()
    assert early == 0
    assert pre[0] > 0 and pre[1] > 0
    assert outputs.readout.sequential.looks and outputs.readout.week_ends[0] == "2019-12-07"
    assert outputs.readout.week_ends[-1] == "2020-02-29"


def test_rate_zero_is_a_real_aa_test(aa) -> None:
    settings, outputs = aa[0], checkout(aa)
    r = outputs.readout
    manifests = [Manifest.read(p) for p in sorted(settings.manifest_dir.glob("*.json"))]
    assert all(m.rows_injected == 0 and m.experiment["uplift_rate"] == 0 for m in manifests)
    assert r.experiment.is_aa and r.truth.absolute == 0 and r.truth_all_users.absolute == 0
    assert not r.primary.srm.flagged and not r.all_users.srm.flagged
    assert not r.primary.conversion.significant and not r.all_users.conversion.significant
    assert r.primary.conversion.absolute.ci.covers(0.0)
    assert r.decision.outcome != "ship"
    assert "0: an A/A test" in outputs.markdown.read_text()


def test_small_rate_reports_its_power_honestly(small, capsys) -> None:
    """The stated power to detect the injected effect is what repeating this experiment
    (same users, same rates) would deliver: checked by 4,000 seeded binomial replays."""
    outputs = checkout(small)
    r = outputs.readout
    p = r.power
    assert r.truth.absolute > 0 and p.true_effect == r.truth.absolute
    c, t = r.primary.conversion.control, r.primary.conversion.treatment
    base = c.mean
    assert p.power_at_true_effect == pytest.approx(
        power_two_proportions(base, r.truth.absolute, c.n, t.n, pooled=False)
    )
    rng = np.random.default_rng(20240615)
    replays = zip(
        rng.binomial(c.n, base, 4_000),
        rng.binomial(t.n, base + r.truth.absolute, 4_000),
        strict=True,
    )
    rejected = np.mean(
        [
            compare_conversion(Proportion(c.n, int(x)), Proportion(t.n, int(y))).significant
            for x, y in replays
        ]
    )
    with capsys.disabled():
        print(
            f"\n[simulation] uplift 0.005: true effect {r.truth.absolute * 100:+.2f} pp on "
            f"{c.n:,} + {t.n:,} users; stated power {p.power_at_true_effect:.3f}, replayed "
            f"{rejected:.3f}"
        )
    assert rejected == pytest.approx(p.power_at_true_effect, abs=0.03)
    # The small injection is a smaller effect than the seed's 5%, and the decision follows
    # the test: keep running when it missed.
    assert r.truth.absolute < 0.1
    if not r.primary.conversion.significant:
        assert r.decision.outcome == "keep_running"
    text = outputs.markdown.read_text()
    assert f"this sample had {p.power_at_true_effect:.0%} power" in text


def test_the_standing_aa_reports_no_effect_and_no_mismatch(december) -> None:
    """experiments.yml's standing A/A (salted, assigned by the warehouse, no injection) on the
    same data as the checkout, whose injection lands in both of its groups alike."""
    settings, outputs = december[0], december[1]["aa-standing"]
    r = outputs.readout
    assert r.experiment.kind == "aa" and not r.experiment.injected
    assert r.experiment.start == "2019-11-01" and r.experiment.has_pre_period
    assert not r.primary.srm.flagged and not r.all_users.srm.flagged
    assert not r.srm_by_day.flagged and not any(f.flagged for f in r.srm_by_segment)
    assert r.balance.message == "ok" and not r.balance.flagged
    assert not r.primary.conversion.significant and r.truth.absolute == 0
    assert r.truth.absolute_covered and not r.warnings
    assert r.decision.outcome == "keep_running" and "A/A check is clean" in r.decision.headline
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        split = con.execute(
            "select sum(case when a.experiment_group = c.experiment_group then 1 else 0 end), "
            "count(*) from gold.fct_experiment_users a join gold.fct_experiment_users c "
            "using (user_id) where a.experiment_key = 'aa-standing' "
            "and c.experiment_key = 'checkout'"
        ).fetchone()
    # Its own salt: about half its users share their checkout group, not all of them.
    assert 0.45 < split[0] / split[1] < 0.55
