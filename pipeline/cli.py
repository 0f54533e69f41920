"""The `ecom` command line: one command per pipeline stage, each calling one function.

Domain errors (pipeline.errors.EcomError) become a red message and an exit code here, and
only here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer

from pipeline.errors import EcomError
from pipeline.progress import console
from pipeline.settings import Settings, get_settings

app = typer.Typer(
    name="ecom",
    help="ecom-growth: raw clickstream -> lake -> warehouse -> A/B readout and abandonment model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

P = ParamSpec("P")
R = TypeVar("R")

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help="Root for generated and derived data (env ECOM_DATA_DIR)."),
]


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a domain error into its message and exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EcomError as err:
            console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(err.exit_code) from err

    return wrapper


def settings_for(data_dir: str | None) -> Settings:
    return get_settings(data_dir=data_dir)


@app.callback()
def main() -> None:
    """Run one stage at a time, or `ecom demo` for the whole pipeline.

    Settings come from ECOM_* environment variables (see README: Configuration).
    """


# Commands are registered below, one section per stage.


# ---- generate ----------------------------------------------------------------------------------
@app.command()
@handles_errors
def generate(
    scale: Annotated[
        float,
        typer.Option(help="Size relative to the real data set (1.0 = 20.7M events, 2.4 GB)."),
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; same seed, same bytes (default ECOM_SEED).")
    ] = None,
    months: Annotated[
        list[str] | None,
        typer.Option("--month", "--months", help="Month(s) to write, e.g. 2019-Oct; default all."),
    ] = None,
    malformed_share: Annotated[
        float,
        typer.Option(help="Share of lines made malformed on purpose (5 kinds, see *.truth.json)."),
    ] = 0.0002,
    out_dir: Annotated[
        str | None, typer.Option(help="Where the CSVs go; default <data-dir>/raw.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write synthetic monthly CSVs (2019-Oct.csv … 2020-Feb.csv) in the real files' format.

    Calibrated to the real set's statistics. Each CSV gets a <month>.truth.json sidecar that
    lists its malformed lines by kind and line number (the header is line 1).
    """
    import json
    from pathlib import Path

    from pipeline.generate import generate as run_generate
    from pipeline.progress import progress
    from pipeline.settings import MONTHS

    settings = settings_for(data_dir)
    target = Path(out_dir) if out_dir else settings.raw_dir
    with progress() as bar:
        paths = run_generate(
            target,
            scale=scale,
            seed=settings.seed if seed is None else seed,
            months=months or MONTHS,
            malformed_share=malformed_share,
            progress=bar,
        )
    for path in paths:
        truth = json.loads(path.with_name(path.stem + ".truth.json").read_text())
        console.print(
            f"{path}  {truth['data_lines']:,} lines, {truth['malformed_lines']:,} malformed"
        )


# ---- ingest ----------------------------------------------------------------------------------
@app.command()
@handles_errors
def ingest(
    months: Annotated[
        list[str] | None,
        typer.Option("--month", "--months", help="Month(s) to ingest, e.g. 2019-Oct; default all."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Lines per Parquet part (one streaming query each); default whole month."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a live month even when the new run writes nothing or quarantines more "
            "than ECOM_MAX_QUARANTINE_SHARE (default 5%) of its lines.",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Parse raw CSVs into the Parquet lake and bronze.events, quarantining bad rows.

    Raw monthly CSVs -> Parquet lake (month partitions) + quarantine + manifest -> warehouse
    bronze.events. Re-ingesting a month replaces it everywhere, atomically; one ingestion per
    data directory at a time (README: Ingestion).
    """
    from rich.console import Console
    from rich.table import Table

    from pipeline.ingest import ingest as run_ingest
    from pipeline.progress import progress

    settings = settings_for(data_dir)
    with progress() as bar:
        manifests = run_ingest(
            settings,
            months,
            batch_size=batch_size,
            force=force,
            progress=bar,
            report=lambda line: console.print(f"[yellow]recovered:[/] {line}"),
        )
    table = Table(title=f"ingested into {settings.lake} and {settings.warehouse_path}")
    for column in ("month", "read", "written", "quarantined", "injected", "duplicates", "seconds"):
        table.add_column(column, justify="left" if column == "month" else "right")
    for m in manifests:
        table.add_row(
            m.month,
            *(f"{n:,}" for n in (m.rows_read, m.rows_written, m.rows_quarantined)),
            *(f"{n:,}" for n in (m.rows_injected, m.duplicate_rows)),
            f"{m.timings_seconds['total']:.1f}",
        )
    Console().print(table)
    console.print(f"manifests in {settings.manifest_dir}, quarantine in {settings.quarantine_dir}")
    limit = settings.max_quarantine_share
    for m in manifests:
        share = m.rows_quarantined / m.rows_read if m.rows_read else 0.0
        if m.forced or share > limit or m.rows_written == 0:
            console.print(
                f"[yellow]warning:[/] {m.month}: {m.rows_written:,} rows written, {share:.1%} "
                f"quarantined (limit {limit * 100:g}%){' — replaced with --force' if m.forced else ''}"
                f"; see {m.quarantine_path}"
            )


# --- warehouse (dbt) ---------------------------------------------------------------------


@app.command()
@handles_errors
def warehouse(
    data_dir: DataDir = None,
    select: Annotated[
        str | None,
        typer.Option("--select", "-s", help="dbt selection (default: everything but tag:scoring)."),
    ] = None,
    docs: Annotated[
        bool, typer.Option("--docs", help="Also run `dbt docs generate` after the build.")
    ] = False,
) -> None:
    """Build silver and gold with dbt: models, data tests and unit tests.

    Runs on the configured warehouse (ECOM_WAREHOUSE: duckdb or bigquery).
    """
    from pipeline.warehouse.build import build_warehouse, generate_docs

    settings = settings_for(data_dir)
    result = build_warehouse(settings, select, show_progress=True)
    console.print(
        f"dbt build on {result.target}: {result.count('model')} models, "
        f"{result.count('test')} data tests, {result.count('unit_test')} unit tests passed "
        f"in {result.elapsed_seconds:.1f} s"
    )
    if docs:
        console.print(f"docs: {generate_docs(settings) / 'index.html'}")


# ---- experiment readout --------------------------------------------------------------------------
@app.command()
@handles_errors
def abtest(
    alpha: Annotated[float, typer.Option(help="Significance level of tests and intervals.")] = 0.05,
    winsorize: Annotated[
        float | None,
        typer.Option(help="Cap per-user revenue at this percentile of both groups (e.g. 0.99)."),
    ] = None,
    correction: Annotated[
        str, typer.Option(help="Multiple-testing correction for segments: holm or bh.")
    ] = "holm",
    sequential_tuning: Annotated[
        float,
        typer.Option(
            help="N* of the always-valid confidence sequence: the sample size where it is "
            "tightest (GrowthBook's default 5000; set it near the users you expect)."
        ),
    ] = 5000.0,
    target_lift: Annotated[
        float, typer.Option(help="Relative lift the sample-size figure is computed for.")
    ] = 0.05,
    revenue_margin: Annotated[
        float,
        typer.Option(
            help="Non-inferiority margin of the revenue-per-user guardrail: the largest relative "
            "fall that is acceptable (0.02 = -2%)."
        ),
    ] = 0.02,
    data_dir: DataDir = None,
) -> None:
    """Read out the checkout experiment: ship, do not ship, or keep running, and why.

    Decision by a stated rule; SRM checks; conversion of users who reached the cart (primary)
    and of all users; CUPED; guardrails; revenue; a Bayesian view; power; peeking-safe weekly
    view; segments; injected truth. Writes JSON, Markdown, PNG and HTML to
    <data-dir>/reports/abtest.
    """
    from pipeline.abtest import ReadoutConfig, run_abtest
    from pipeline.errors import InputError
    from pipeline.progress import progress

    if correction not in ("holm", "bh"):
        raise InputError(f"--correction must be holm or bh, got {correction!r}")
    try:
        config = ReadoutConfig(
            alpha=alpha,
            winsorize_at=winsorize,
            correction=correction,  # type: ignore[arg-type]
            sequential_tuning=sequential_tuning,
            target_relative_lift=target_lift,
            revenue_margin=revenue_margin,
        )
    except ValueError as err:
        raise InputError(str(err)) from err
    settings = settings_for(data_dir)
    with progress() as bar:
        outputs = run_abtest(settings, config, progress=bar)
    console.print(f"Decision: {outputs.readout.decision.words}", highlight=False, markup=False)
    console.print(outputs.readout.verdict, highlight=False, markup=False)
    for warning in outputs.readout.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    for path in (outputs.markdown, outputs.json, outputs.conversion_png, outputs.lift_png):
        console.print(f"  {path}", highlight=False)
    console.print(f"  {outputs.html}", highlight=False)


# ---- abandonment model: train, score, explain ---------------------------------------------------
@app.command()
@handles_errors
def train(
    engine: Annotated[
        str, typer.Option(help="local (xgboost on the warehouse) or bqml (BigQuery ML + export).")
    ] = "local",
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples for the ROC-AUC / PR-AUC intervals.")
    ] = 200,
    data_dir: DataDir = None,
) -> None:
    """Train the cart-abandonment model and print both evaluations beside baselines.

    Writes data/models/abandonment: booster + metadata (BigQuery ML export layout), model
    card and reference sample.
    """
    from pipeline.errors import InputError
    from pipeline.model.report import metrics_lines
    from pipeline.progress import progress

    settings = settings_for(data_dir)
    if engine not in ("local", "bqml"):
        raise InputError(f"--engine must be local or bqml, got {engine!r}")
    with progress() as bar:
        if engine == "bqml":
            from pipeline.model.bqml import train_bqml

            result = train_bqml(settings, n_boot=bootstrap, progress=bar)
        else:
            from pipeline.model.train import train_local

            result = train_local(settings, n_boot=bootstrap, progress=bar)
    for line in metrics_lines(result.card):
        console.print(line, highlight=False, markup=False)
    console.print(f"model written to {result.model_dir}")


@app.command()
@handles_errors
def score(
    model_id: Annotated[
        str | None,
        typer.Option(help="Score with this model version (`ecom models list`); default: current."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Score every cart session in plain SQL (gold.cart_session_scores).

    Installs predict_abandonment() compiled from the model's trees (DuckDB: a macro over a
    lookup table; BigQuery: a function in the gold dataset; a BigQuery ML model keeps
    ML.PREDICT), then builds the dbt model: one row per (session, model), re-scoring replaces
    the model's own rows.
    """
    from pipeline.model.sql_scoring import score_warehouse

    settings = settings_for(data_dir)
    run = score_warehouse(settings, model_id=model_id, show_progress=True)
    scorer = "ML.PREDICT" if run.scorer == "ml_predict" else "predict_abandonment()"
    console.print(
        f"gold.cart_session_scores built with {run.model_id} via {scorer} "
        f"({run.build.count('model')} model, {run.build.count('test')} tests passed) "
        f"in {run.build.elapsed_seconds:.1f} s",
        highlight=False,
    )


@app.command()
@handles_errors
def explain(data_dir: DataDir = None) -> None:
    """SHAP plots of the current model: beeswarm, mean |SHAP| bar, highest-risk waterfall."""
    from pipeline.model.explain import explain_model
    from pipeline.model.registry import resolve

    settings = settings_for(data_dir)
    model_dir = resolve(settings.models_dir, settings.model_id)
    paths = explain_model(model_dir, settings.reports_dir / "shap")
    for name, path in paths.items():
        console.print(f"{name}: {path}")


# ---- serve: the app (the API's command joins it) ---------------------------------------------------
serve_app = typer.Typer(
    help="Run a service on this machine (Ctrl-C stops it).", no_args_is_help=True
)
app.add_typer(serve_app, name="serve")


@serve_app.command("app")
@handles_errors
def serve_streamlit(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    data_dir: DataDir = None,
) -> None:
    """The Streamlit app (streamlit_app/app.py): dashboard, predictor, bulk, monitoring.

    It calls the scoring API at API_URL (default http://127.0.0.1:8000) and reads the
    warehouse through ECOM_* settings.
    """
    from pipeline.dashboard.serving import ServeError, port_is_free, serve

    settings = settings_for(data_dir)
    if not port_is_free(host, port):
        raise ServeError(f"Port {port} on {host} is taken: pass --port with a free one.")
    code = serve(
        settings, host=host, app_port=port, api_port=None,
        announce=lambda running: console.print(
            f"app: {running[-1].url}  (API_URL {settings.api_url}; Ctrl-C stops it)",
            highlight=False,
        ),
    )  # fmt: skip
    raise typer.Exit(code)


def serve_demo(settings: Settings, log_dir) -> int:
    """The demo's last step: the API and the app on loopback until Ctrl-C."""
    from pipeline.dashboard.serving import (
        DEFAULT_API_PORT,
        DEFAULT_APP_PORT,
        api_available,
        pick_port,
        serve,
    )

    host = "127.0.0.1"
    api_port = pick_port(host, DEFAULT_API_PORT) if api_available() else None
    app_port = pick_port(host, DEFAULT_APP_PORT)
    if api_port is None:
        console.print(
            "[yellow]The scoring API (api/main.py) is not in this checkout: serving the app "
            "alone; its predictor and bulk tabs will say the API is unavailable.[/]"
        )

    def announce(running) -> None:
        console.rule("[bold green]serving")
        for server in running:
            console.print(f"  {server.name:>4}: {server.url}", highlight=False)
        console.print(f"  logs in {log_dir}; Ctrl-C stops both.", highlight=False)

    return serve(settings, host=host, app_port=app_port, api_port=api_port,
                 log_dir=log_dir, announce=announce)  # fmt: skip


# ---- demo: the whole pipeline ---------------------------------------------------------------------
DEMO_SCALE = 0.1  # ~2M events: the whole pipeline in under a minute on 2 cores


@app.command()
@handles_errors
def demo(
    scale: Annotated[
        float, typer.Option(help="Data size relative to the real set (1.0 = 20.7M events).")
    ] = DEMO_SCALE,
    uplift_rate: Annotated[
        float | None,
        typer.Option(
            help="Share of Treatment cart events injected as purchases (0 = an A/A test; "
            "env ECOM_UPLIFT_RATE, default 0.05)."
        ),
    ] = None,
    experiment_start: Annotated[
        str | None,
        typer.Option(
            help="First day of the experiment, YYYY-MM-DD; earlier events are the pre-period "
            "(env ECOM_EXPERIMENT_START, default the data's first day)."
        ),
    ] = None,
    data_dir: DataDir = None,
    serve: Annotated[
        bool,
        typer.Option(help="End by serving the API and the app on loopback (Ctrl-C stops)."),
    ] = True,
) -> None:
    """Run the whole pipeline on embedded DuckDB, from generated data to SHAP plots, then
    serve the API and the app.

    generate, ingest, warehouse, abtest, train, score, explain. Each stage is idempotent, so
    re-running replaces rather than duplicates. --no-serve stops after the last stage.
    """
    import os
    import time

    from pipeline.errors import InputError

    # The experiment settings reach every stage as the environment they read (ECOM_*).
    for name, value in (
        ("ECOM_UPLIFT_RATE", uplift_rate),
        ("ECOM_EXPERIMENT_START", experiment_start),
    ):
        if value is not None:
            os.environ[name] = str(value)
    try:
        settings_for(data_dir)
    except ValueError as err:
        raise InputError(f"Invalid experiment settings: {err}") from err

    stages: list[tuple[str, Callable[[], object]]] = [
        ("generate", lambda: generate(scale=scale, data_dir=data_dir)),
        ("ingest", lambda: ingest(data_dir=data_dir)),
        ("warehouse", lambda: warehouse(data_dir=data_dir)),
        ("abtest", lambda: abtest(data_dir=data_dir)),
        ("train", lambda: train(data_dir=data_dir)),
        ("score", lambda: score(data_dir=data_dir)),
        ("explain", lambda: explain(data_dir=data_dir)),
    ]
    started = time.perf_counter()
    for number, (name, stage) in enumerate(stages, start=1):
        console.rule(f"[bold]{number}/{len(stages)} {name}")
        stage()
    settings = settings_for(data_dir)
    console.rule("[bold green]done")
    console.print(
        f"whole pipeline in {time.perf_counter() - started:.0f} s. Look at:\n"
        f"  {settings.reports_dir / 'abtest' / 'readout.md'}  (experiment readout)\n"
        f"  {settings.models_dir}  (model artifact and model card)\n"
        f"  {settings.reports_dir / 'shap'}  (SHAP plots)\n"
        f"  {settings.warehouse_path}  (warehouse: bronze, silver, gold schemas)",
        highlight=False,
    )
    if serve:
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        raise typer.Exit(serve_demo(settings, log_dir))
