"""Runs inside .venv-gbstats (GrowthBook's gbstats 0.8.0, numpy 1): reads cases as JSON on
stdin, answers gbstats' own results as JSON on stdout. Imports nothing of this project."""

import json
import sys

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    OneSidedTreatmentGreaterTTest,
    OneSidedTreatmentLesserTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)


def statistic(spec):
    if spec["kind"] == "proportion":
        return ProportionStatistic(n=spec["n"], sum=spec["sum"])
    if spec["kind"] == "mean":
        return SampleMeanStatistic(n=spec["n"], sum=spec["sum"], sum_squares=spec["sum_squares"])
    return RegressionAdjustedStatistic(
        n=spec["n"],
        post_statistic=statistic(spec["post"]),
        pre_statistic=statistic(spec["pre"]),
        post_pre_sum_of_products=spec["cross"],
        theta=0,
    )


def run(case):
    a, b = statistic(case["a"]), statistic(case["b"])
    difference = case.get("difference_type", "relative")
    if case["test"] == "bayesian":
        result = EffectBayesianABTest(
            a, b, EffectBayesianConfig(difference_type=difference, alpha=case["alpha"])
        ).compute_result()
        return {
            "chance_to_win": result.chance_to_win,
            "expected": result.expected,
            "ci": list(result.ci),
            "risk": list(result.risk),
            "stddev": result.uplift.stddev,
            "error": result.error_message,
        }
    config = FrequentistConfig(
        difference_type=difference, alpha=case["alpha"], test_value=case.get("test_value", 0.0)
    )
    test_class = {
        "two_sided": TwoSidedTTest,
        "greater": OneSidedTreatmentGreaterTTest,
        "lesser": OneSidedTreatmentLesserTTest,
    }[case["test"]]
    test = test_class(a, b, config)
    result = test.compute_result()
    theta = getattr(test.stat_a, "theta", None)
    return {
        "p_value": result.p_value,
        "expected": result.expected,
        "ci": [float(x) for x in result.ci],
        "theta": theta,
        "error": result.error_message,
    }


print(json.dumps([run(case) for case in json.load(sys.stdin)]))
