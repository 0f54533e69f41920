"""The moment model's calibration and decision rule: what a version stores and how it applies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.serving.calibration import (
    IDENTITY,
    Platt,
    read_calibration,
    write_calibration,
)
from pipeline.serving.decision import DecisionRule, read_rule, write_rule
from pipeline.serving.trees import sigmoid


def test_platt_maps_the_margin_and_round_trips(tmp_path) -> None:
    platt = Platt(0.8, -0.3, "2020-Jan")
    assert platt.probability(1.5) == sigmoid(0.8 * 1.5 - 0.3)
    margins = np.array([-800.0, -3.0, 0.0, 0.375, 4.0, 800.0])
    vector = platt.probabilities(margins)
    assert [float(v) for v in vector] == [platt.probability(m) for m in margins]  # bit for bit
    assert np.all(np.isfinite(vector))
    write_calibration(tmp_path, platt)
    assert read_calibration(tmp_path) == platt
    assert read_calibration(tmp_path / "nowhere") == IDENTITY  # a version without one


def test_a_broken_calibration_is_refused_with_its_path(tmp_path) -> None:
    (tmp_path / "calibration.json").write_text(json.dumps({"method": "isotonic"}))
    with pytest.raises(ModelError, match=r"calibration\.json"):
        read_calibration(tmp_path)


def test_the_rule_acts_when_the_expected_value_is_positive(tmp_path) -> None:
    rule = DecisionRule(gross_margin_rate=0.5, recovery_share=0.2, intervention_cost=1.0)
    # 0.9 * 20 * 0.5 * 0.2 - 1 = 0.8 > 0; 0.9 * 5 * 0.5 * 0.2 - 1 = -0.55
    assert rule.expected_value(0.9, 20.0) == pytest.approx(0.8)
    assert rule.intervene(0.9, 20.0) and not rule.intervene(0.9, 5.0)
    assert rule.expected_value(1.0, -3.0) == -1.0  # a negative price is no margin
    write_rule(tmp_path, rule)
    assert read_rule(tmp_path) == rule
    assert read_rule(tmp_path / "nowhere") is None


@pytest.mark.parametrize(
    "bad",
    [{"recovery_share": 1.5}, {"intervention_cost": -1.0}, {"gross_margin_rate": float("nan")}],
)
def test_impossible_assumptions_are_refused(bad) -> None:
    with pytest.raises(ValueError):
        DecisionRule(**bad)


def test_the_break_even_probability_is_where_acting_starts_to_pay() -> None:
    rule = DecisionRule(gross_margin_rate=0.5, recovery_share=0.2, intervention_cost=1.0)
    assert rule.break_even_probability(20.0) == pytest.approx(0.5)  # 1 / (20 x 0.5 x 0.2)
    for p in (0.49, 0.51):
        assert rule.intervene(p, 20.0) is (p > 0.5)
    assert rule.break_even_probability(10.0) is None  # acting costs what a sure save recovers
    assert rule.break_even_probability(-5.0) is None
    free = DecisionRule(intervention_cost=0.0)
    assert free.break_even_probability(3.0) == 0.0 and not free.intervene(0.0, 3.0)
    rng = np.random.default_rng(1)
    for price, p in zip(rng.gamma(1.5, 20, 200).tolist(), rng.random(200).tolist(), strict=True):
        threshold = DecisionRule().break_even_probability(price)
        assert DecisionRule().intervene(p, price) is (threshold is not None and p > threshold)


def test_the_settings_state_the_rules_own_defaults(monkeypatch) -> None:
    """ECOM_DECISION_* default to DecisionRule's defaults (settings sit below the serving core,
    so the numbers are written in both places; this holds them equal)."""
    from pipeline.model.moment.train import decision_rule
    from pipeline.settings import Settings

    for key in ("GROSS_MARGIN_RATE", "RECOVERY_SHARE", "INTERVENTION_COST"):
        monkeypatch.delenv(f"ECOM_DECISION_{key}", raising=False)
    assert decision_rule(Settings()) == DecisionRule()
    monkeypatch.setenv("ECOM_DECISION_INTERVENTION_COST", "0.75")
    assert decision_rule(Settings()) == DecisionRule(intervention_cost=0.75)


def test_the_documented_defaults_are_the_rules_defaults() -> None:
    """The page that states the assumptions (docs/explanation/which-model.md) gives each
    ECOM_DECISION_* setting the default that DecisionRule and the settings hold."""
    import re
    from pathlib import Path

    from pipeline.settings import Settings

    page = Path(__file__).resolve().parents[2] / "docs" / "explanation" / "which-model.md"
    stated = {
        name.lower(): float(value)
        for name, value in re.findall(
            r"`ECOM_DECISION_(\w+)` (\d+(?:\.\d+)?)", page.read_text(encoding="utf-8")
        )
    }
    rule = DecisionRule()
    fields = Settings.model_fields
    expected = {
        name: getattr(rule, name)
        for name in ("gross_margin_rate", "recovery_share", "intervention_cost")
    }
    assert stated == expected
    assert {name: fields[f"decision_{name}"].default for name in expected} == expected
