"""Option choices are enums typer validates: a bad value exits 2 (the input-error code the
commands had when they checked by hand) and lists the valid ones; each enum names the same
choices as the domain type it stands for."""

from __future__ import annotations

from typing import get_args

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.cli.abtest import Correction
from pipeline.cli.boundary import Family
from pipeline.cli.drift import Reference
from pipeline.cli.model import Engine, Points
from pipeline.errors import InputError


@pytest.mark.parametrize(
    ("args", "listed"),
    [
        (["abtest", "--correction", "bonferroni"], "'holm', 'bh'"),
        (["train", "--engine", "sagemaker"], "'local', 'bqml'"),
        (["drift", "--reference", "everything"], "'sample', 'window'"),
        (["train", "--family", "basket"], "'session', 'moment'"),
        (["train", "--family", "moment", "--points", "last"], "'pooled', 'first_cart'"),
        (["models", "list", "--family", "basket"], "'session', 'moment'"),
    ],
)
def test_a_bad_choice_exits_2_and_lists_the_choices(settings, args, listed) -> None:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2 == InputError.exit_code
    assert listed in " ".join(result.output.replace("│", " ").split())  # the box may wrap
    assert not settings.data_dir.exists()  # refused before anything ran


def test_each_choice_enum_matches_the_domain_type() -> None:
    from pipeline.drift.data import VIEWS
    from pipeline.drift.data import Reference as DomainReference
    from pipeline.model.moment.evaluation import Points as DomainPoints
    from pipeline.serving.registry import FAMILIES
    from pipeline.stats.multiple import Correction as DomainCorrection

    assert [c.value for c in Correction] == list(get_args(DomainCorrection))
    assert [r.value for r in Reference] == list(get_args(DomainReference))
    assert [e.value for e in Engine] == ["local", "bqml"]
    assert [f.value for f in Family] == list(FAMILIES) == list(VIEWS)
    assert [p.value for p in Points] == list(get_args(DomainPoints))


def test_help_lists_every_command_group() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "generate", "ingest", "warehouse", "abtest", "train", "score", "explain", "drift",
        "demo", "serve", "models",
    ):  # fmt: skip
        assert f" {command} " in result.output, command
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and " api " in result.output and " app " in result.output
