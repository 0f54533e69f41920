"""`ecom demo` (what `make demo` runs): every stage on embedded DuckDB, then the services.

The stages run with one Settings built here from the options, passed to each explicitly; the
services get the same settings as their environment (pipeline.services). Nothing changes this
process's environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from pipeline.cli import abtest, drift, generate, ingest, model, warehouse
from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.progress import console
from pipeline.settings import MONTHS, Settings

DEMO_SCALE = 0.1  # ~2M events: the whole pipeline in under a minute on 2 cores
# The newest month stays out of training, so the drift report has a month the model has never
# seen: what monitoring looks like in production.
TRAIN_THROUGH = MONTHS[-2]


@handles_errors
def demo(
    scale: Annotated[
        float, typer.Option(help="Data size relative to the real set (1.0 = 20.7M events).")
    ] = DEMO_SCALE,
    uplift_rate: Annotated[
        float | None,
        typer.Option(
            help="Share of Treatment cart events injected as purchases (0 = an A/A test; "
            "env ECOM_UPLIFT_RATE, default the injected experiment's rate in experiments.yml)."
        ),
    ] = None,
    experiment_start: Annotated[
        str | None,
        typer.Option(
            help="First day of the injected experiment, YYYY-MM-DD; earlier events are the "
            "pre-period (env ECOM_EXPERIMENT_START, default its start in experiments.yml)."
        ),
    ] = None,
    data_dir: DataDir = None,
    serve: Annotated[
        bool,
        typer.Option(help="End by serving the API and the app on loopback (Ctrl-C stops)."),
    ] = True,
) -> None:
    """Run the whole pipeline on embedded DuckDB, then serve the API and the app.

    generate, ingest, warehouse, abtest, train (the session model, on every month but the
    last), train the moment model (October-December; calibrated on January, tested on
    February), score (every cart session and every prediction point, with each model's id),
    explain, drift (the last month against the session model's reference). Each stage is idempotent, so re-running replaces rather than
    duplicates (retraining on the same data reproduces the same model version). Then the API
    and the app on loopback until Ctrl-C; --no-serve stops after the last stage.
    """
    import time

    experiment = {"uplift_rate": uplift_rate, "experiment_start": experiment_start}
    settings = settings_for(data_dir, **experiment)
    training = settings_for(data_dir, **experiment, train_through=TRAIN_THROUGH)
    started = time.perf_counter()
    run_stages(stages(settings, training, scale))
    console.rule("[bold green]done")
    console.print(
        f"whole pipeline in {time.perf_counter() - started:.0f} s. Look at:\n"
        f"  {settings.reports_dir / 'abtest'}/<experiment>/readout.md  (each experiment's "
        "readout; every result in gold.experiment_results)\n"
        f"  {settings.models_dir}  (model versions; `ecom models list --family session|moment`)\n"
        f"  {settings.reports_dir / 'moment' / 'decision.md'}  (the moment model's decision readout)\n"
        f"  {settings.reports_dir / 'shap'}  (SHAP plots)\n"
        f"  {settings.drift_dir / 'latest.json'}  (drift summary; HTML reports beside it)\n"
        f"  {settings.warehouse_path}  (warehouse: bronze, silver, gold schemas)",
        highlight=False,
    )
    if serve:
        raise typer.Exit(serve_all(settings))


def stages(
    settings: Settings, training: Settings, scale: float
) -> list[tuple[str, Callable[[], object]]]:
    """Each stage's name and call, in order; `training` is `settings` with the training window."""
    return [
        ("generate", lambda: generate.run(settings, scale=scale)),
        ("ingest", lambda: ingest.run(settings)),
        ("warehouse", lambda: warehouse.run(settings)),
        ("abtest", lambda: abtest.run(settings)),
        ("train", lambda: model.run_train(training)),
        ("train moment", lambda: model.run_train_moment(settings)),
        ("score", lambda: model.run_score(settings)),
        ("score moment", lambda: model.run_score_moment(settings)),
        ("explain", lambda: model.run_explain(settings)),
        ("drift", lambda: drift.run(settings)),
    ]


def run_stages(steps: list[tuple[str, Callable[[], object]]]) -> None:
    for number, (name, step) in enumerate(steps, start=1):
        console.rule(f"[bold]{number}/{len(steps)} {name}")
        step()


def serve_all(settings: Settings) -> int:
    """The demo's last step: the API and the app on loopback until Ctrl-C."""
    from pipeline import services

    host = "127.0.0.1"
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    def announce(running: list[services.Running]) -> None:
        console.rule("[bold green]serving")
        for server in running:
            console.print(f"  {server.name:>4}: {server.url}", highlight=False)
        console.print(f"  logs in {log_dir}; Ctrl-C stops both.", highlight=False)

    return services.serve_api_and_app(
        settings,
        host=host,
        api_port=services.pick_port(host, services.DEFAULT_API_PORT),
        app_port=services.pick_port(host, services.DEFAULT_APP_PORT),
        log_dir=log_dir,
        announce=announce,
    )
