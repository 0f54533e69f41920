"""experiments.yml: the repository's file, what the schema refuses (with the field named), and
the two settings that override the injected experiment."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from pipeline.errors import InputError
from pipeline.experiment import assign_group
from pipeline.experiment.config import (
    OUTPUT_MODELS,
    ExperimentsFile,
    read_experiments,
    with_overrides,
)
from pipeline.settings import EXPERIMENTS_FILE

BASE = yaml.safe_load(EXPERIMENTS_FILE.read_text())


def test_the_repositorys_file_holds_the_checkout_and_a_standing_aa() -> None:
    experiments = read_experiments(EXPERIMENTS_FILE)
    checkout, aa = experiments.get("checkout"), experiments.get("aa-standing")
    # The checkout is exactly the seed's rule: no salt, so md5(user id) parity.
    assert checkout.assignment.salt == "" and checkout.rules().salt == ""
    assert assign_group(576802932, checkout.assignment.salt) == assign_group(576802932)
    assert experiments.injected is checkout and checkout.injection.rate == 0.05
    assert aa.kind == "aa" and aa.injection is None and aa.assignment.salt
    assert aa.start == date(2019, 11, 1)  # a pre-period, so its balance check runs
    assert ExperimentsFile in OUTPUT_MODELS  # its JSON Schema is in the docs


def write(tmp_path: Path, experiments: list[dict]) -> Path:
    path = tmp_path / "experiments.yml"
    path.write_text(yaml.safe_dump({"experiments": experiments}))
    return path


def edited(**changes) -> list[dict]:
    checkout, aa = (dict(e) for e in BASE["experiments"])
    return [{**checkout, **changes}, aa]


@pytest.mark.parametrize(
    ("experiments", "message"),
    [
        (edited(key="Checkout v2"), "experiments.0.key"),
        (edited(key="aa-standing"), "keys must be distinct"),
        (edited(assignment={"salt": "aa-standing:"}), "its own assignment salt"),
        (edited(assignment={"salt": "x'; drop"}), "experiments.0.assignment.salt"),
        (edited(start="2020-01-02", end="2020-01-01"), "before start"),
        (edited(kind="aa"), "cannot inject"),
        (edited(guardrails=[{"metric": "bounce_rate"}]), "experiments.0.guardrails.0.metric"),
        (edited(minimum_detectable_effect=0), "must not be 0"),
        (edited(unknown_field=1), "experiments.0.unknown_field"),
        (edited(variants={"control": "x"}), "experiments.0.variants.treatment"),
        ([], "experiments"),
    ],
)
def test_a_wrong_file_is_refused_with_the_field_named(tmp_path, experiments, message) -> None:
    with pytest.raises(InputError, match=message):
        read_experiments(write(tmp_path, experiments))


def test_two_injected_experiments_are_refused(tmp_path) -> None:
    checkout, aa = (dict(e) for e in BASE["experiments"])
    aa = {**aa, "kind": "ab", "injection": {"rate": 0.1, "seed": "other"}}
    with pytest.raises(InputError, match="at most one experiment may carry an injection"):
        read_experiments(write(tmp_path, [checkout, aa]))


def test_missing_or_unparsable_file_says_so(tmp_path) -> None:
    with pytest.raises(InputError, match="ECOM_EXPERIMENTS_FILE"):
        read_experiments(tmp_path / "nowhere.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("experiments: [\n")
    with pytest.raises(InputError, match="not valid YAML"):
        read_experiments(bad)


def test_overrides_change_only_the_injected_experiment(tmp_path) -> None:
    loaded = read_experiments(EXPERIMENTS_FILE)
    changed = with_overrides(loaded, 0.0, date(2019, 12, 1))
    assert changed.get("checkout").injection.rate == 0.0
    assert changed.get("checkout").start == date(2019, 12, 1)
    assert changed.get("aa-standing") == loaded.get("aa-standing")
    assert with_overrides(loaded, None, None) is loaded
    only_aa = read_experiments(write(tmp_path, [BASE["experiments"][1]]))
    with pytest.raises(InputError, match="has none"):
        with_overrides(only_aa, 0.1, None)
    assert only_aa.ingestion.uplift_rate == 0 and only_aa.ingestion.salt == ""
