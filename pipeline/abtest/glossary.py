"""The readout's glossary: every term a reader of readout.md may not know, in a sentence.

Written into every readout.json (`glossary`) and at the end of the Markdown."""

from __future__ import annotations

GLOSSARY: tuple[tuple[str, str], ...] = (
    (
        "pp",
        "percentage points: the difference of two percentages (7.0% to 8.0% is +1.0 pp, "
        "a +14% relative lift).",
    ),
    (
        "relative lift",
        "the difference divided by Control's value (its absolute value when negative).",
    ),
    (
        "interval (CI)",
        "a 95% confidence interval: the range of effects compatible with the "
        "data; intervals built this way cover the true effect 95% of the time. An interval that "
        "excludes 0 is the same statement as p < 0.05 here.",
    ),
    (
        "p-value",
        "how often a difference at least this large would appear by chance if the "
        "redesign did nothing.",
    ),
    (
        "SRM",
        "sample ratio mismatch: the groups are not the 50/50 split the assignment "
        "promises, a sign of broken assignment or logging; flagged at p < 0.001.",
    ),
    (
        "exposed / users who reached the cart",
        "users with at least one add-to-cart event in the "
        "experiment, counted before the injection so the trigger means the same in both groups; "
        "the checkout can only change what they do.",
    ),
    (
        "CUPED",
        "variance reduction with a pre-period covariate (Deng et al. 2013): each user's "
        "metric minus theta times their value before the start; same effect, narrower interval.",
    ),
    (
        "guardrail",
        "a metric the change must not hurt; non-inferiority means a loss larger than "
        "the margin is ruled out.",
    ),
    (
        "chance to beat control",
        "the Bayesian posterior probability that Treatment is better "
        "(flat prior, as GrowthBook's default).",
    ),
    (
        "expected loss",
        "the lift you expect to give up, on average over the posterior, if the "
        "choice turns out wrong.",
    ),
    (
        "power / MDE",
        "the chance a test detects an effect of a given size; the minimum "
        "detectable effect (MDE) is the smallest one detected 80% of the time.",
    ),
    (
        "sequential",
        "an always-valid confidence sequence that may be checked every week and "
        "stopped when it excludes 0 without inflating false positives; a fixed-horizon interval "
        "checked weekly does inflate them.",
    ),
    (
        "A/A test",
        "both groups get the same experience (a standing A/A experiment, or uplift rate 0): "
        "any 'effect' is chance; about 5% of A/A tests are significant at alpha 0.05.",
    ),
    (
        "family of tests",
        "the tests a multiple-testing correction covers together; each family below says "
        "its correction and the error rate it holds.",
    ),
    (
        "pre-period balance",
        "the groups compared on what they did before the experiment began, which "
        "assignment cannot have changed: a difference means the split is not random.",
    ),
    (
        "investigate",
        "a check below the whole population failed (a day or segment's split, the "
        "pre-period balance): find the cause before reading any result.",
    ),
)
