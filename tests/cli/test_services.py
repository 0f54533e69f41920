"""pipeline.services: what the children are given. Real starts and stops: tests/cli/test_serve_*.py
and tests/app/test_browser.py (what `ecom demo` ends with)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from pipeline import services
from pipeline.settings import Settings


def test_every_setting_reaches_the_children_explicitly(settings, monkeypatch, tmp_path) -> None:
    """(`settings` clears the caller's ECOM_* variables.)"""
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    given = Settings(
        data_dir=Path("rel"),
        uplift_rate=0.0,
        experiment_start=date(2019, 11, 1),
        api_url="http://api:8000",
        api_key="k",
        lake_uri="lake",
    )
    env = services.settings_environment(given, EXTRA="1")
    assert dict(os.environ) == before
    assert env["ECOM_DATA_DIR"] == str(tmp_path / "rel")
    assert env["ECOM_MODELS_DIR"] == str(tmp_path / "rel" / "models")
    assert env["ECOM_LAKE_URI"] == str(tmp_path / "lake")
    assert env["ECOM_UPLIFT_RATE"] == "0.0"
    assert env["ECOM_EXPERIMENT_START"] == "2019-11-01"
    assert env["API_URL"] == "http://api:8000" and "ECOM_API_URL" not in env
    assert env["ECOM_API_KEY"] == "k" and env["EXTRA"] == "1"
    assert "ECOM_MODEL_ID" not in env  # unset stays unset
    # A child reading that environment sees the same settings, wherever it runs.
    monkeypatch.chdir(tmp_path.parent)
    for key, value in env.items():
        if key.startswith("ECOM_") or key == "API_URL":
            monkeypatch.setenv(key, value)
    seen = Settings()
    assert seen.data_dir == tmp_path / "rel"
    assert (seen.uplift_rate, seen.experiment_start) == (given.uplift_rate, given.experiment_start)
    assert seen.experiments_file == given.experiments_file.resolve()
    assert seen.api_url == given.api_url


def test_a_bucket_lake_is_passed_as_it_is(settings) -> None:
    given = settings.model_copy(update={"lake_uri": "gs://bucket/lake"})
    assert services.settings_environment(given)["ECOM_LAKE_URI"] == "gs://bucket/lake"


def test_servers_bound_to_every_interface_are_reached_on_loopback() -> None:
    assert services.local_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert services.local_url("::", 8000) == "http://[::1]:8000"
    assert services.local_url("127.0.0.1", 8501) == "http://127.0.0.1:8501"
