"""`ecom serve api`: refuses to start without a model, saying what to run."""

from __future__ import annotations

from typer.testing import CliRunner

from pipeline.cli import app


def test_serve_without_a_model_says_train_first(settings):
    result = CliRunner().invoke(app, ["serve", "api", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 5
    assert "ecom train" in result.output


def test_serve_help_lists_the_options():
    result = CliRunner().invoke(app, ["serve", "api", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers"):
        assert option in result.output
