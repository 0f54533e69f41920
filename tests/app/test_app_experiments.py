"""The dashboard's experiment selector and pre-period balance table, through AppTest on the
shared pipeline run: every experiment of experiments.yml is a choice, labelled with its latest
decision once `ecom abtest` has written gold.experiment_results; choosing one reads it out."""

from __future__ import annotations

import pytest

from pipeline.abtest import ReadoutConfig, compute_readout
from pipeline.warehouse import connect
from streamlit_app.data import formats as fmt
from streamlit_app.data.experiments import balance_frame, choices, selected
from tests.app.apptest import no_exception, open_app
from tests.app.conftest import Pipeline


def balance_table(at):
    (table,) = [t.value for t in at.table if t.value.index.name == "Before the start"]
    return table


def test_the_selector_lists_every_experiment_and_reads_the_chosen_one(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    no_exception(at)
    picker = at.selectbox(key="f_experiment")
    assert picker.value == "checkout"  # experiments.yml's first
    assert [o.split(" · ")[0] for o in picker.options] == [
        "Redesigned checkout",
        "Standing A/A check (A/A)",
    ]
    assert any("Redesigned checkout" in s.value for s in at.subheader)
    # The checkout starts 2019-11-01 in these tests: its balance table has both metrics.
    shown = balance_table(at)
    checkout = selected(pipeline_run.settings, "checkout")
    readout = compute_readout(
        connect(pipeline_run.settings), ReadoutConfig(), checkout.spec, checkout.recorded
    )
    expected = balance_frame(readout).to_pandas()
    assert (
        shown.index.tolist()
        == expected["metric"].tolist()
        == [
            "Pre-period conversion",
            "Pre-period revenue per user",
        ]
    )
    assert shown["p"].tolist() == [fmt.p_value(p) for p in expected["p_value"]]
    assert shown.loc["Pre-period conversion", "Control"] == fmt.pct(expected["control"][0])
    assert shown.loc["Pre-period revenue per user", "Treatment"] == fmt.money(
        expected["treatment"][1]
    )
    assert set(shown["Result"]) == {"Balanced"}

    at = picker.set_value("aa-standing").run()
    no_exception(at)
    assert any("Standing A/A check" in s.value for s in at.subheader)
    aa = selected(pipeline_run.settings, "aa-standing")
    aa_readout = compute_readout(connect(pipeline_run.settings), ReadoutConfig(), aa.spec)
    assert aa_readout.decision.outcome == "keep_running"
    assert any(aa_readout.decision.headline in e.value for e in at.warning)
    assert balance_table(at)["p"].tolist() == [
        fmt.p_value(t.p_value) for t in aa_readout.balance.tests
    ]


def test_the_labels_carry_the_latest_decision_from_the_results_table(
    pipeline_run: Pipeline, tmp_path
) -> None:
    """Before any readout the choices say so; after `ecom abtest` they carry its decision and
    lift (read from gold.experiment_results, not recomputed). On a copy of the warehouse, so
    the other tests see the run as it was."""
    import shutil

    from pipeline.abtest import run_abtest

    settings = pipeline_run.settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(pipeline_run.data_dir, settings.data_dir)
    before = choices(settings, connect(settings))
    assert [c.label.split(" · ")[1] for c in before] == ["not read out yet"] * 2
    done = run_abtest(settings)
    after = {c.key: c for c in choices(settings, connect(settings))}
    for key, outputs in done.items():
        r = outputs.readout
        assert after[key].decision == r.decision.outcome
        assert after[key].lift == pytest.approx(r.primary.conversion.relative.estimate)
        assert r.decision.words in after[key].label
