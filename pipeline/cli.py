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
ModelId = Annotated[
    str | None,
    typer.Option(
        "--model-id",
        help="A model version (`ecom models list`); default ECOM_MODEL_ID, else the current one.",
    ),
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


def settings_for(data_dir: str | None, **overrides: object) -> Settings:
    """Settings from the environment with CLI options on top; a bad value is an input error."""
    from pydantic import ValidationError

    from pipeline.errors import InputError

    try:
        return get_settings(data_dir=data_dir, **overrides)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise InputError(f"Invalid setting: {problems}") from err


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
            warn=lambda line: console.print(f"[yellow]warning:[/] {line}"),
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="BigQuery: print the bytes and on-demand cost of each model and test, build nothing.",
        ),
    ] = False,
) -> None:
    """Build silver and gold with dbt: models, data tests and unit tests.

    Runs on the configured warehouse (ECOM_WAREHOUSE: duckdb or bigquery).
    """
    from pipeline.warehouse.build import build_warehouse, generate_docs

    settings = settings_for(data_dir)
    if dry_run:
        _print_dry_run(settings, select)
        return
    result = build_warehouse(settings, select, show_progress=True)
    console.print(
        f"dbt build on {result.target}: {result.count('model')} models, "
        f"{result.count('test')} data tests, {result.count('unit_test')} unit tests passed "
        f"in {result.elapsed_seconds:.1f} s"
    )
    if docs:
        console.print(f"docs: {generate_docs(settings) / 'index.html'}")


def _print_dry_run(settings: Settings, select: str | None) -> None:
    from rich.table import Table

    from pipeline.warehouse.dry_run import dry_run_warehouse, human_bytes

    result = dry_run_warehouse(settings, select)
    table = Table(title=f"BigQuery dry run (nothing billed), ${result.price_per_tib:g} per TiB")
    for column in ("node", "bytes processed", "est. USD", "note"):
        table.add_column(column, justify="left" if column in ("node", "note") else "right")
    for line in result.lines:
        note = "via upstream SQL (not built yet)" if line.via_upstream_sql else ""
        table.add_row(
            f"{line.resource_type} {line.name}",
            f"{line.bytes_processed:,} ({human_bytes(line.bytes_processed)})",
            f"{line.usd:.4f}",
            note,
        )
    table.add_row(
        "total",
        f"{result.total_bytes:,} ({human_bytes(result.total_bytes)})",
        f"{result.total_usd:.4f}",
        "",
    )
    from rich.console import Console

    Console().print(table)
    if settings.bq_api_endpoint:
        console.print(
            f"(endpoint {settings.bq_api_endpoint}: an emulator has no cost model and reports 0 bytes)"
        )


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
    through: Annotated[
        str | None,
        typer.Option(
            help="Train on months up to and including this one (2020-Jan or 2020-01); later "
            "months stay unseen for `ecom drift` (env ECOM_TRAIN_THROUGH; default: all)."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Train the cart-abandonment model and print both evaluations beside baselines.

    Adds a version under data/models/abandonment/versions/<model id>/ (booster + metadata in
    BigQuery ML's export layout, model card, reference sample) and makes it current; nothing
    is overwritten (`ecom models` lists, promotes, rolls back, prunes).
    """
    from pipeline.errors import InputError
    from pipeline.model.report import metrics_lines
    from pipeline.progress import progress

    settings = settings_for(data_dir, train_through=through)
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
    console.print(
        f"model {result.card['model_id']} written to {result.model_dir} (now current)",
        highlight=False,
    )


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
def explain(model_id: ModelId = None, data_dir: DataDir = None) -> None:
    """SHAP plots of the current model (or --model-id): beeswarm, mean |SHAP| bar, waterfall
    of the highest-risk reference session."""
    from pipeline.model.explain import explain_model
    from pipeline.model.registry import resolve

    settings = settings_for(data_dir, model_id=model_id)
    model_dir = resolve(settings.models_dir, settings.model_id)
    console.print(f"explaining {model_dir.name}", highlight=False)
    paths = explain_model(model_dir, settings.reports_dir / "shap")
    for name, path in paths.items():
        console.print(f"{name}: {path}")


# ---- serve: the scoring API and the app -----------------------------------------------------------
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


@serve_app.command("api")
@handles_errors
def serve_api(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 in a container).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="uvicorn worker processes (about one per core).")
    ] = 1,
    data_dir: DataDir = None,
) -> None:
    """Serve the scoring API: uvicorn --factory api.main:create_app.

    Serves the current model version (or ECOM_MODEL_ID) under ECOM_MODELS_DIR; ECOM_API_KEY,
    ECOM_API_CORS_ORIGINS and ECOM_BULK_MAX_* configure it. Docs at http://HOST:PORT/docs.
    """
    from pipeline.serve import serve_api as run_serve_api

    run_serve_api(settings_for(data_dir), host=host, port=port, workers=workers, data_dir=data_dir)


def serve_demo(settings: Settings, log_dir) -> int:
    """The demo's last step: the API and the app on loopback until Ctrl-C."""
    from pipeline.dashboard.serving import (
        DEFAULT_API_PORT,
        DEFAULT_APP_PORT,
        pick_port,
        serve,
    )

    host = "127.0.0.1"
    api_port = pick_port(host, DEFAULT_API_PORT)
    app_port = pick_port(host, DEFAULT_APP_PORT)

    def announce(running) -> None:
        console.rule("[bold green]serving")
        for server in running:
            console.print(f"  {server.name:>4}: {server.url}", highlight=False)
        console.print(f"  logs in {log_dir}; Ctrl-C stops both.", highlight=False)

    return serve(settings, host=host, app_port=app_port, api_port=api_port,
                 log_dir=log_dir, announce=announce)  # fmt: skip


# ---- model versions ------------------------------------------------------------------------------
models_app = typer.Typer(
    name="models",
    help="Model versions: list, show, promote, rollback, prune (data/models/abandonment/).",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


@models_app.command("list")
@handles_errors
def models_list(data_dir: DataDir = None) -> None:
    """Every version, oldest first: id, engine, trained_at, rows, ROC-AUC on both splits."""
    from rich.table import Table

    from pipeline.errors import ModelError
    from pipeline.model import registry

    settings = settings_for(data_dir)
    versions = registry.list_versions(settings.models_dir)
    root = registry.model_root(settings.models_dir)
    if not versions:
        console.print(f"No model versions in {root}: run `ecom train`.", highlight=False)
        if (root / "model.bst").exists():
            console.print("An old single-folder model is there: `ecom models migrate` keeps it.")
        return
    table = Table(title=f"model versions in {root}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("model id", no_wrap=True)
    table.add_column("engine")
    table.add_column("trained at (UTC)", no_wrap=True)
    for column in ("rows", "ROC-AUC random", "ROC-AUC time"):
        table.add_column(column, justify="right")
    for v in versions:
        marker = "current" if v.is_current else ""
        if settings.model_id == v.model_id:
            marker = (marker + " pinned").strip()
        if v.problem:
            table.add_row(marker, v.model_id, "[red]unreadable[/]", v.problem, "", "", "")
            continue
        stamp = (v.trained_at or "–").replace("T", " ").removesuffix("+00:00")
        rows = "–" if v.rows is None else f"{v.rows:,}"
        table.add_row(
            marker,
            v.model_id,
            v.engine or "–",
            stamp,
            rows,
            _auc(v.roc_auc_random),
            _auc(v.roc_auc_time),
        )
    _table_console().print(table)
    try:
        registry.read_pointer(settings.models_dir)
    except ModelError as err:
        console.print(f"[bold yellow]warning:[/] {err}", highlight=False)
    if settings.model_id:
        console.print(f"ECOM_MODEL_ID pins {settings.model_id} for every consumer.")


@models_app.command("show")
@handles_errors
def models_show(
    model_id: Annotated[
        str | None, typer.Argument(help="The version to show; default the current one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print model_card.json instead.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a version's model card (intended use, limitations, evaluation, thresholds)."""
    import json

    from pipeline.model.artifact import load_model
    from pipeline.model.card import render_markdown
    from pipeline.model.registry import resolve

    settings = settings_for(data_dir)
    model = load_model(resolve(settings.models_dir, model_id or settings.model_id))
    text = json.dumps(model.card, indent=2) if as_json else render_markdown(model.card)
    typer.echo(text)


@models_app.command("promote")
@handles_errors
def models_promote(
    model_id: Annotated[str, typer.Argument(help="The version to make current.")],
    data_dir: DataDir = None,
) -> None:
    """Make a version current (after checking that it loads)."""
    from pipeline.model import registry

    settings = settings_for(data_dir)
    before = _current_or_none(settings)
    registry.promote(settings.models_dir, model_id)
    console.print(f"current model: {model_id} (was {before or 'none'})", highlight=False)
    _restart_hint()


@models_app.command("rollback")
@handles_errors
def models_rollback(data_dir: DataDir = None) -> None:
    """Go back to the version that was current before this one."""
    from pipeline.model import registry

    settings = settings_for(data_dir)
    before = _current_or_none(settings)
    model_id = registry.rollback(settings.models_dir)
    console.print(f"current model: {model_id} (rolled back from {before})", highlight=False)
    _restart_hint()


@models_app.command("prune")
@handles_errors
def models_prune(
    keep: Annotated[int, typer.Option(help="How many of the newest versions to keep.")],
    data_dir: DataDir = None,
) -> None:
    """Delete all but the newest --keep versions; the current (and a pinned) one always stays."""
    from pipeline.model import registry

    settings = settings_for(data_dir)
    protect = [settings.model_id] if settings.model_id else []
    removed = registry.prune(settings.models_dir, keep, protect=protect)
    if removed:
        console.print(f"removed {len(removed)}: {', '.join(removed)}", highlight=False)
    else:
        console.print("nothing to remove", highlight=False)


@models_app.command("migrate")
@handles_errors
def models_migrate(data_dir: DataDir = None) -> None:
    """Keep a model of the old single-folder layout as a version (training does it too)."""
    from pipeline.model import registry

    settings = settings_for(data_dir)
    model_id = registry.migrate_legacy(settings.models_dir)
    console.print(
        f"kept as version {model_id}" if model_id else "nothing to migrate", highlight=False
    )


def _table_console():
    """A terminal's own width; piped output (a log, a test) gets room for a whole row."""
    from rich.console import Console

    console_out = Console()
    return console_out if console_out.is_terminal else Console(width=120)


def _current_or_none(settings: Settings) -> str | None:
    from pipeline.errors import ModelError
    from pipeline.model import registry

    try:
        return registry.current_id(settings.models_dir)
    except ModelError:
        return None


def _restart_hint() -> None:
    console.print(
        "Consumers load the current model when they start: restart the API, and run "
        "`ecom score` to re-score gold.cart_session_scores with it."
    )


# ---- drift -----------------------------------------------------------------------------------------
@app.command()
@handles_errors
def drift(
    months: Annotated[
        list[str] | None,
        typer.Option(
            "--month",
            help="Month(s) to compare, e.g. 2020-Feb; default: each month after the "
            "model's training window.",
        ),
    ] = None,
    shift: Annotated[
        bool,
        typer.Option(
            "--shift",
            help="Compare a deliberately shifted copy instead (views and duration "
            "x1.5): a demonstration of what drift looks like.",
        ),
    ] = False,
    reference: Annotated[
        str,
        typer.Option(
            help="sample: the model's 1,000-row reference sample (statistical tests); window: "
            "its whole training window from the warehouse (distances)."
        ),
    ] = "sample",
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit with code 1 when a slice's data set has drifted.")
    ] = False,
    model_id: ModelId = None,
    data_dir: DataDir = None,
) -> None:
    """Evidently data-drift reports: the model's reference vs later cart sessions.

    Also the drift of the predicted P(abandoned). Writes drift_<month>.html/.json and
    latest.json to <data-dir>/reports/drift/.
    """
    from rich.table import Table

    from pipeline.drift import run_drift
    from pipeline.errors import InputError
    from pipeline.progress import progress

    if reference not in ("sample", "window"):
        raise InputError(f"--reference must be sample or window, got {reference!r}")
    settings = settings_for(data_dir, model_id=model_id)
    with progress() as bar:
        result = run_drift(
            settings,
            months=months,
            shift=shift,
            reference=reference,  # type: ignore[arg-type]
            progress=bar,
        )
    summary = result.summary
    out = _table_console()
    for piece in summary["slices"]:
        out.print(
            f"[bold]{piece['label']}[/]: {piece['rows']:,} sessions vs "
            f"{summary['reference_rows']:,} reference rows ({summary['reference']}), "
            f"{piece['method_regime']} regime, {piece['drifted_count']}/"
            f"{piece['columns_checked']} columns drifted"
            + (" [bold red](data set drifted)[/]" if piece["dataset_drifted"] else ""),
            highlight=False,
        )
        table = Table()
        for column in ("column", "method", "threshold", "score", "drifted"):
            table.add_column(
                column, justify="right" if column in ("threshold", "score") else "left"
            )
        for c in piece["columns"]:
            score = "–" if c["score"] is None else f"{c['score']:.4g}"
            threshold = "–" if c["threshold"] is None else f"{c['threshold']:g}"
            flag = "[bold red]yes[/]" if c["drifted"] else "no"
            table.add_row(c["column"], c["method"], threshold, score, flag)
        out.print(table)
    console.print(
        f"model {result.model_id}; reports in {result.out_dir} (latest: {result.latest.name})",
        highlight=False,
    )
    if fail_on_drift and any(p["dataset_drifted"] for p in summary["slices"]):
        raise typer.Exit(1)


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
    """Run the whole pipeline on embedded DuckDB, from generated data to a drift report, then
    serve the API and the app.

    generate, ingest, warehouse, abtest, train (on every month but the last), score (every
    cart session, with the current model's id), explain, drift (the last month against the
    model's reference). Each stage is idempotent, so re-running replaces rather than
    duplicates (retraining on the same data reproduces the same model version). Then the API
    and the app on loopback until Ctrl-C; --no-serve stops after the last stage.
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

    from pipeline.settings import MONTHS

    # The newest month stays out of training, so the drift report has a month the model has
    # never seen: what monitoring looks like in production.
    through = MONTHS[-2]
    stages: list[tuple[str, Callable[[], object]]] = [
        ("generate", lambda: generate(scale=scale, data_dir=data_dir)),
        ("ingest", lambda: ingest(data_dir=data_dir)),
        ("warehouse", lambda: warehouse(data_dir=data_dir)),
        ("abtest", lambda: abtest(data_dir=data_dir)),
        ("train", lambda: train(through=through, data_dir=data_dir)),
        ("score", lambda: score(data_dir=data_dir)),
        ("explain", lambda: explain(data_dir=data_dir)),
        ("drift", lambda: drift(data_dir=data_dir)),
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
        f"  {settings.models_dir}  (model versions; `ecom models list`, `ecom models show`)\n"
        f"  {settings.reports_dir / 'shap'}  (SHAP plots)\n"
        f"  {settings.drift_dir / 'latest.json'}  (drift summary; HTML reports beside it)\n"
        f"  {settings.warehouse_path}  (warehouse: bronze, silver, gold schemas)",
        highlight=False,
    )
    if serve:
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        raise typer.Exit(serve_demo(settings, log_dir))
