"""The moment model's metric code against independent implementations: ROC-AUC and average
precision under bootstrap weights against scikit-learn's with sample_weight, reliability and
ECE against scikit-learn's calibration_curve, Brier against brier_score_loss, the Platt fit
against statsmodels' Logit, the session bootstrap by simulation, and the profit curve against
a loop over carts with the serving core's DecisionRule."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from pipeline.model.moment import metrics, profit
from pipeline.model.moment.calibrate import fit_platt
from pipeline.serving.decision import DecisionRule


def labelled(n: int, seed: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(float)
    p = rng.random(n) * 0.6 + 0.3 * y
    if ties:
        p = np.round(p, 2)
    return y, p, rng.integers(0, n // 3, n)


@pytest.mark.parametrize("ties", [True, False], ids=["tied-scores", "distinct-scores"])
def test_weighted_curves_equal_scikit_learn(ties: bool) -> None:
    y, p, sessions = labelled(4000, seed=1, ties=ties)
    weights = metrics.session_weights(sessions, 12, seed=5)
    assert (weights == 0).any(), "a resample leaves sessions out: zero weights are exercised"
    ranked = metrics.Ranked.of(y, p)
    aucs, aps = metrics.bootstrap_curves(ranked, weights)
    for w, auc, ap in zip(weights, aucs, aps, strict=True):
        assert auc == pytest.approx(roc_auc_score(y, p, sample_weight=w), abs=1e-12)
        assert ap == pytest.approx(average_precision_score(y, p, sample_weight=w), abs=1e-12)
    ones = np.ones_like(y)
    assert ranked.roc_auc(ones) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert ranked.average_precision(ones) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_blocks_give_the_same_resamples_as_one_pass(monkeypatch) -> None:
    y, p, sessions = labelled(900, seed=2, ties=True)
    weights = metrics.session_weights(sessions, 30, seed=3)
    ranked = metrics.Ranked.of(y, p)
    whole = metrics.bootstrap_curves(ranked, weights)
    monkeypatch.setattr(metrics, "BLOCK_CELLS", 900 * 7)  # blocks of 7 resamples
    blocked = metrics.bootstrap_curves(ranked, weights)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])


def test_a_resample_draws_whole_sessions() -> None:
    sessions = np.array(["a", "a", "b", "c", "c", "c", "d"])
    weights = metrics.session_weights(sessions, 50, seed=7)
    for w in weights:
        assert w[0] == w[1] and w[3] == w[4] == w[5]  # a session's rows move together
        # four sessions drawn with replacement: the counts per session sum to four
        assert w[0] + w[2] + w[3] + w[6] == 4
    assert len({tuple(w) for w in weights}) > 10  # seeded, not constant
    np.testing.assert_array_equal(weights, metrics.session_weights(sessions, 50, seed=7))


def test_reliability_and_ece_against_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(4, 2, 5000)
    y = (rng.random(5000) < np.clip(p * 1.1 - 0.05, 0, 1)).astype(float)
    p[:3] = [0.0, 1.0, 0.5]  # the edges: 0 in the first bin, 1.0 in the last, 0.5 in (0.4, 0.5]
    table = metrics.reliability(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([b["observed_rate"] for b in table], observed, atol=1e-12)
    np.testing.assert_allclose([b["mean_predicted"] for b in table], predicted, atol=1e-12)
    assert sum(b["rows"] for b in table) == p.size
    gaps = 0.0
    for b in table:
        inside = (p > b["bin_low"]) & (p <= b["bin_high"]) | ((p == 0) & (b["bin_low"] == 0))
        assert inside.sum() == b["rows"]
        gaps += inside.sum() * abs(p[inside].mean() - y[inside].mean())
    assert metrics.expected_calibration_error(table) == pytest.approx(gaps / p.size, abs=1e-12)


def test_brier_and_its_skill() -> None:
    y, p, sessions = labelled(3000, seed=6, ties=False)
    result = metrics.score(y, p, prior_rate=0.65, weights=metrics.session_weights(sessions, 5, 1))
    assert result["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    reference = brier_score_loss(y, np.full_like(y, 0.65))
    assert result["brier_skill"] == pytest.approx(1 - brier_score_loss(y, p) / reference)
    constant = metrics.score(
        y, np.full_like(y, 0.65), 0.65, metrics.session_weights(sessions, 5, 1)
    )
    assert constant["brier_skill"] == 0 and constant["roc_auc"] == 0.5
    assert constant["roc_auc_ci"] == [0.5, 0.5]


def test_session_bootstrap_interval_covers_the_truth_by_simulation() -> None:
    """Rows of one session share a latent score and the label: a row bootstrap would be too
    narrow; the session bootstrap's 95% interval should cover the population AUC ~95% of the
    time."""

    def sample(n_sessions: int, rng: np.random.Generator):
        latent = rng.normal(size=n_sessions)
        y_session = (latent + rng.normal(size=n_sessions) > 0).astype(float)
        per = rng.integers(1, 4, n_sessions)  # 1-3 points a session
        session = np.repeat(np.arange(n_sessions), per)
        p = 1 / (1 + np.exp(-(latent[session] + rng.normal(0, 0.3, session.size))))
        return y_session[session], p, session

    rng = np.random.default_rng(11)
    y_big, p_big, _ = sample(200_000, rng)
    truth = roc_auc_score(y_big, p_big)
    covered = 0
    runs = 120
    for run in range(runs):
        y, p, session = sample(300, rng)
        weights = metrics.session_weights(session, 200, seed=run)
        aucs, _ = metrics.bootstrap_curves(metrics.Ranked.of(y, p), weights)
        low, high = metrics.percentile_interval(aucs)
        covered += low <= truth <= high
    assert 0.88 <= covered / runs <= 0.995, covered / runs


def test_platt_fit_equals_statsmodels_logit() -> None:
    rng = np.random.default_rng(8)
    margin = rng.normal(1.0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.7 * margin - 0.4)))).astype(int)
    platt = fit_platt(margin, y, "test rows")
    reference = sm.Logit(y, sm.add_constant(margin)).fit(disp=0, tol=1e-12).params
    assert platt.intercept == pytest.approx(reference[0], abs=1e-7)
    assert platt.slope == pytest.approx(reference[1], abs=1e-7)
    assert platt.fitted_on == "test rows"


def test_profit_curve_and_policies_against_a_loop_over_carts() -> None:
    rng = np.random.default_rng(9)
    n = 700
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    price = np.round(rng.lognormal(1.2, 1.0, n), 2)
    price[:5] = [-3.0, 0.0, 0.0, 1e-9, 50.0]  # non-positive prices have no margin
    rule = DecisionRule(gross_margin_rate=0.35, recovery_share=0.2, intervention_cost=0.25)
    value = [
        (y[i] * max(price[i], 0) * 0.35 * 0.2 - 0.25, rule.expected_value(p[i], price[i]))
        for i in range(n)
    ]
    curve = profit.curve(p, y, price, rule)
    assert [row["threshold"] for row in curve] == [round(t / 100, 2) for t in range(101)]
    for row in curve[::7]:
        acted = [i for i in range(n) if p[i] >= row["threshold"]]
        assert row["intervened"] == len(acted)
        assert row["profit"] == pytest.approx(sum(value[i][0] for i in acted), abs=1e-9)
        assert row["expected_profit"] == pytest.approx(sum(value[i][1] for i in acted), abs=1e-9)
    best = max(curve, key=lambda r: (round(r["profit"], 9), r["threshold"]))
    assert profit.best_threshold(curve) == best["threshold"]
    policies = profit.policies(p, y, price, rule, best["threshold"])
    assert policies["no_one"]["profit"] == 0 and policies["no_one"]["intervened"] == 0
    assert policies["everyone"]["profit"] == pytest.approx(sum(v for v, _ in value))
    rule_acts = [i for i in range(n) if rule.intervene(p[i], price[i])]
    assert policies["expected_value_rule"]["intervened"] == len(rule_acts)
    assert policies["expected_value_rule"]["profit"] == pytest.approx(
        sum(value[i][0] for i in rule_acts)
    )
    assert policies["perfect_foresight"]["profit"] >= max(
        r["profit"] for name, r in policies.items() if name != "perfect_foresight"
    )
    assert policies["threshold"]["profit"] == pytest.approx(best["profit"])
    assert policies["everyone"]["profit_per_1000_carts"] == pytest.approx(
        policies["everyone"]["profit"] / n * 1000
    )
