"""A live month is not replaced by a run that writes nothing or quarantines too much, unless
forced; a month that is not live yet is ingested whatever it holds."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import InputError
from pipeline.ingest import Manifest, ingest
from pipeline.settings import Settings
from tests.ingest.conftest import synthetic_lines
from tests.ingest.processes import leftovers, live_state


@pytest.fixture
def good_month(settings, raw_month) -> Settings:
    raw_month(synthetic_lines(2_000, seed=1))
    ingest(settings, ["2019-Oct"])
    return settings


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(
        app, ["ingest", "--data-dir", str(settings.data_dir), "--month", "2019-Oct", *args], env=env
    )
    return result.exit_code, " ".join(result.output.split())


BAD_RUNS = {
    "header only": ([], "2019-Oct.csv has no data lines (only a header)"),
    "every line with a trailing comma": (
        [line + "," for line in synthetic_lines(2_000, seed=1)],
        "none of the 2,000 lines of 2019-Oct.csv is valid (by reason: wrong_column_count 2,000;"
        " first: line 2 (wrong_column_count): '2019-10-01 00:00:00 UTC,",
    ),
    "6% bad": (
        [*synthetic_lines(1_880, seed=2), *(["garbage"] * 120)],
        "120 of the 2,000 lines of 2019-Oct.csv (6.0%) were quarantined, more than the limit "
        "of 5% (ECOM_MAX_QUARANTINE_SHARE)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_a_bad_run_is_refused_and_the_live_month_kept(good_month, raw_month, case):
    lines, found = BAD_RUNS[case]
    before = live_state(good_month)
    raw_month(lines)
    with pytest.raises(InputError) as failure:
        ingest(good_month, ["2019-Oct"])
    text = str(failure.value)
    assert text.startswith(f"Refusing to replace 2019-Oct: {found}"), text
    assert "The live month is unchanged (2,000 rows written by the run of" in text
    assert "`ecom ingest --month 2019-Oct --force`" in text
    assert live_state(good_month) == before
    assert leftovers(good_month) == []

    code, output = cli(good_month, "--force")
    assert code == 0, output
    assert "warning: 2019-Oct:" in output and "replaced with --force" in output
    manifest = Manifest.read(good_month.manifest_dir / "2019-Oct.json")
    assert manifest.forced
    assert manifest.rows_read == len(lines)


def test_up_to_the_limit_is_accepted_and_the_limit_is_a_setting(good_month, raw_month):
    raw_month([*synthetic_lines(1_900, seed=2), *(["garbage"] * 100)])  # exactly 5%
    (manifest,) = ingest(good_month, ["2019-Oct"])
    assert (manifest.rows_written, manifest.forced) == (1_900, False)
    raw_month([*synthetic_lines(1_980, seed=3), *(["garbage"] * 20)])  # 1%
    code, output = cli(good_month, env={"ECOM_MAX_QUARANTINE_SHARE": "0.005"})
    assert code == InputError.exit_code
    assert (
        "(1.0%) were quarantined, more than the limit of 0.5% (ECOM_MAX_QUARANTINE_SHARE)" in output
    )
    code, output = cli(good_month, env={"ECOM_MAX_QUARANTINE_SHARE": "0.02"})
    assert code == 0, output


def test_a_month_that_is_not_live_is_never_refused(settings, raw_month):
    raw_month(["garbage"] * 10)
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert (manifest.rows_written, manifest.rows_quarantined, manifest.forced) == (0, 10, False)
    code, output = cli(settings)  # still all bad, and now live: refused
    assert code == InputError.exit_code and "Refusing to replace 2019-Oct" in output
