"""`ecom generate` writes the files, reports them, and turns bad options into a clear error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app


def test_generate_command_writes_months_and_sidecars(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["generate", "--scale", "0.002", "--seed", "3", "--month", "2019-Nov",
         "--month", "2020-Jan", "--data-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    raw = tmp_path / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "2019-Nov.csv",
        "2019-Nov.truth.json",
        "2020-Jan.csv",
        "2020-Jan.truth.json",
    ]
    truth = json.loads((raw / "2019-Nov.truth.json").read_text())
    assert truth["seed"] == 3 and truth["scale"] == 0.002
    assert truth["data_lines"] == round(4_635_837 * 0.002)


def test_generate_command_rejects_an_unknown_month(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["generate", "--scale", "0.002", "--month", "2019-Sep", "--out-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "unknown month" in result.output
    assert not list(tmp_path.glob("*.csv"))
