"""`ecom demo` runs the stages with one explicit Settings built from its options, and never
changes this process's environment (the whole run end to end: tests/core/test_demo.py)."""

from __future__ import annotations

import importlib
import os
from datetime import date

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

STAGES = {
    "generate": ("pipeline.cli.generate", "run"),
    "ingest": ("pipeline.cli.ingest", "run"),
    "warehouse": ("pipeline.cli.warehouse", "run"),
    "abtest": ("pipeline.cli.abtest", "run"),
    "train": ("pipeline.cli.model", "run_train"),
    "train moment": ("pipeline.cli.model", "run_train_moment"),
    "score": ("pipeline.cli.model", "run_score"),
    "score moment": ("pipeline.cli.model", "run_score_moment"),
    "explain": ("pipeline.cli.model", "run_explain"),
    "drift": ("pipeline.cli.drift", "run"),
}


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, object, dict]]:
    """Each stage's call (name, settings, keyword options), in order, instead of running it."""
    seen: list[tuple[str, object, dict]] = []
    for name, (module, function) in STAGES.items():

        def record(settings, *args, _name=name, **kwargs):
            seen.append((_name, settings, kwargs))

        monkeypatch.setattr(importlib.import_module(module), function, record)
    return seen


def test_every_stage_gets_the_options_as_settings(settings, calls) -> None:
    before = dict(os.environ)
    result = CliRunner().invoke(
        app,
        [
            "demo", "--scale", "0.01", "--uplift-rate", "0", "--experiment-start", "2019-11-01",
            "--data-dir", str(settings.data_dir), "--no-serve",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dict(os.environ) == before
    assert [name for name, *_ in calls] == list(STAGES)
    for name, given, _ in calls:
        assert given.data_dir == settings.data_dir, name
        assert given.uplift_rate == 0 and given.experiment_start == date(2019, 11, 1), name
        # Only the session model's training leaves the newest month out (drift then has one
        # the model never saw); the moment model's split is its own (its settings' months).
        assert given.train_through == ("2020-01" if name == "train" else None), name
    assert dict(calls[0][2]) == {"scale": 0.01}
    assert "10/10 drift" in result.output


def test_a_bad_experiment_option_stops_before_any_stage(settings, calls) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--uplift-rate", "2", "--data-dir", str(settings.data_dir), "--no-serve"]
    )
    assert result.exit_code == 2
    assert "Invalid setting: uplift_rate" in result.output
    assert calls == []
    assert "ECOM_UPLIFT_RATE" not in os.environ
