"""The Bayesian view and the guardrail tests against GrowthBook's gbstats on the same counts,
and the expected loss against numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from pipeline.stats.bayesian import GaussianPrior, compare_bayesian, expected_positive_part
from pipeline.stats.frequentist import compare_means
from pipeline.stats.guardrails import adjust_guardrails, guardrail
from pipeline.stats.sufficient import Proportion, SampleMean
from tests.stats.gbstats_engine import gbstats, spec

PAIRS = [
    (Proportion(10_000, 700), Proportion(10_000, 800)),
    (Proportion(2_144, 298), Proportion(2_150, 310)),
    (SampleMean(5_394, 40_360.8, 4.1e7), SampleMean(5_476, 43_722.0, 3.9e7)),
    (SampleMean(900, 450.0, 1_300.0), SampleMean(880, 420.0, 1_150.0)),
]


def test_bayesian_matches_gbstats() -> None:
    cases = [
        {"test": "bayesian", "a": spec(c), "b": spec(t), "alpha": 0.05, "difference_type": kind}
        for c, t in PAIRS
        for kind in ("relative", "absolute")
    ]
    refs = iter(gbstats(cases))
    for c, t in PAIRS:
        for kind in ("relative", "absolute"):
            ours, ref = compare_bayesian(c, t, 0.05, kind), next(refs)
            assert ref["error"] is None
            assert ours.chance_to_win == pytest.approx(ref["chance_to_win"], rel=1e-9, abs=1e-12)
            assert ours.posterior_mean == pytest.approx(ref["expected"], rel=1e-10)
            assert ours.posterior_sd == pytest.approx(ref["stddev"], rel=1e-10)
            assert ours.credible_interval.lower == pytest.approx(ref["ci"][0], rel=1e-9)
            assert ours.credible_interval.upper == pytest.approx(ref["ci"][1], rel=1e-9)
            # gbstats' risk is [loss of keeping Control, loss of shipping Treatment].
            assert ours.loss_if_kept == pytest.approx(ref["risk"][0], rel=1e-7, abs=1e-12)
            assert ours.loss_if_shipped == pytest.approx(ref["risk"][1], rel=1e-7, abs=1e-12)


@pytest.mark.parametrize(("mu", "sd"), [(0.02, 0.01), (-0.5, 0.3), (0.0, 2.0)])
def test_expected_loss_by_numerical_integration(mu, sd) -> None:
    ref, _ = integrate.quad(lambda x: x * stats.norm.pdf(x, mu, sd), 0, np.inf)
    assert expected_positive_part(mu, sd) == pytest.approx(ref, rel=1e-8, abs=1e-12)


def test_proper_prior_shrinks_towards_its_mean() -> None:
    c, t = PAIRS[1]
    flat = compare_bayesian(c, t)
    shrunk = compare_bayesian(c, t, prior=GaussianPrior(0.0, 0.01**2, proper=True))
    assert abs(shrunk.posterior_mean) < abs(flat.posterior_mean)
    assert shrunk.posterior_sd < flat.posterior_sd


def test_degenerate_input_gets_a_message() -> None:
    assert compare_bayesian(Proportion(0, 0), Proportion(5, 1)).message == "empty_group"
    assert compare_bayesian(Proportion(10, 0), Proportion(10, 2)).message == "zero_baseline"


def test_guardrail_p_values_match_gbstats_one_sided_tests() -> None:
    c, t = PAIRS[2]
    result = compare_means(c, t)
    revenue = guardrail("revenue", "revenue per user", result, "increase", margin=0.02)
    removes = guardrail("removes", "remove rate", result, "decrease")
    base = {"a": spec(c), "b": spec(t), "alpha": 0.05, "difference_type": "relative"}
    harm_increase_good, non_inferior, harm_decrease_good = gbstats(
        [
            {**base, "test": "lesser"},  # P(lift this low | lift = 0)
            {**base, "test": "greater", "test_value": -0.02},
            {**base, "test": "greater"},
        ]
    )
    assert revenue.p_harm == pytest.approx(harm_increase_good["p_value"], rel=1e-7)
    assert revenue.p_noninferiority == pytest.approx(non_inferior["p_value"], rel=1e-7)
    assert removes.p_harm == pytest.approx(harm_decrease_good["p_value"], rel=1e-7)


def test_guardrail_status_and_holm() -> None:
    def mean_result(lift: float, n: int = 20_000, sd: float = 3.0):
        rng = np.random.default_rng(abs(int(lift * 1e4)) + n)
        c = rng.normal(10.0, sd, n)
        t = rng.normal(10.0 * (1 + lift), sd, n)
        return compare_means(
            SampleMean(n, c.sum(), (c**2).sum()), SampleMean(n, t.sum(), (t**2).sum())
        )

    results = adjust_guardrails(
        [
            guardrail("a", "clearly fine", mean_result(0.01), "increase", margin=0.02),
            guardrail("b", "harmed", mean_result(-0.05), "increase"),
            guardrail("c", "too noisy", mean_result(0.0, n=50, sd=30.0), "increase", margin=0.02),
        ]
    )
    assert [r.status for r in results] == ["pass", "fail", "inconclusive"]
    raw = [r.p_harm for r in results]
    order = np.argsort(raw)
    assert results[order[0]].p_harm_adjusted == pytest.approx(min(1.0, 3 * raw[order[0]]))
