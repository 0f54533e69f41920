"""`ecom train --engine bqml`: the same model trained in BigQuery ML, imported as our artifact.

sql/bqml/*.sql are Jinja2 templates (pipeline.warehouse.templates, as every query of sql/)
filled from settings, the feature contract and TRAIN_PARAMS; they run in order through google-cloud-bigquery, the export
is copied from GCS and imported into the same model folder layout local training writes.
No emulator runs BigQuery ML, so tests cover the rendering and the import path.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2

from pipeline.errors import InputError, ModelError, WarehouseError
from pipeline.model.dataset import SPLIT_COLUMN, training_query
from pipeline.model.train import TRAIN_PARAMS, TrainResult
from pipeline.model.writer import write_model
from pipeline.serving import artifact, registry
from pipeline.serving.features import FEATURES, LABEL
from pipeline.settings import BQML_SQL_DIR, Settings
from pipeline.warehouse import templates

MODEL_ID = "abandonment_model"
PREDICTIONS_TABLE = "cart_session_predictions"
EXPLANATIONS_TABLE = "cart_session_explanations"
# Run order; each name is sql/bqml/<name>.sql.
STEPS = ("create_model", "evaluate", "predict", "explain_predict", "global_explain", "export_model")

# xgboost parameter -> BigQuery ML option. Every key of TRAIN_PARAMS must be here (or be the
# objective, which BOOSTED_TREE_CLASSIFIER implies): a local parameter never silently diverges.
OPTION_FOR_PARAM = {
    "booster": "booster_type",
    "n_estimators": "max_iterations",
    "max_depth": "max_tree_depth",
    "learning_rate": "learn_rate",
    "tree_method": "tree_method",
    "subsample": "subsample",
    "colsample_bytree": "colsample_bytree",
    "colsample_bylevel": "colsample_bylevel",
    "colsample_bynode": "colsample_bynode",
    "min_child_weight": "min_tree_child_weight",
    "gamma": "min_split_loss",
    "reg_alpha": "l1_reg",
    "reg_lambda": "l2_reg",
    "num_parallel_tree": "num_parallel_tree",
}
INT_OPTIONS = {"max_iterations", "max_tree_depth", "min_tree_child_weight", "num_parallel_tree"}
# Options with no xgboost counterpart: fixed so training is what the local run does.
FIXED_OPTIONS: dict[str, str] = {
    "model_type": "'BOOSTED_TREE_CLASSIFIER'",
    "input_label_cols": f"['{LABEL}']",
    "early_stop": "false",
    "auto_class_weights": "false",
    "data_split_method": "'CUSTOM'",
    "data_split_col": f"'{SPLIT_COLUMN}'",
    "enable_global_explain": "true",
}
AUTH_ADVICE = (
    "Run `gcloud auth application-default login` (or point GOOGLE_APPLICATION_CREDENTIALS at a "
    "service-account key) and set ECOM_GCP_PROJECT to the project that holds the gold dataset."
)


def _option_value(option: str, value: Any) -> str:
    if isinstance(value, str):
        return f"'{value.upper()}'"
    if option in INT_OPTIONS:
        if float(value) != int(value):
            raise ModelError(f"BigQuery ML option {option} takes an integer, got {value!r}")
        return str(int(value))
    return repr(float(value))


def model_options(params: Mapping[str, Any] = TRAIN_PARAMS) -> dict[str, str]:
    """The CREATE MODEL options (name -> SQL literal) equivalent to the local parameters."""
    unmapped = set(params) - set(OPTION_FOR_PARAM) - {"objective"}
    if unmapped:
        raise ModelError(f"no BigQuery ML option for local parameter(s) {sorted(unmapped)}")
    if params.get("objective", "binary:logistic") != "binary:logistic":
        raise ModelError("BigQuery ML's BOOSTED_TREE_CLASSIFIER trains a classifier only")
    options = dict(FIXED_OPTIONS)
    for param, option in OPTION_FOR_PARAM.items():
        if param in params:
            options[option] = _option_value(option, params[param])
    return options


def names(settings: Settings) -> dict[str, str]:
    if not settings.gcp_project:
        raise InputError("BigQuery ML needs a project: set ECOM_GCP_PROJECT.")
    gold = f"{settings.gcp_project}.{settings.bq_gold_dataset}"
    bucket = settings.gcs_bucket or ""
    return {
        "project": settings.gcp_project,
        "gold_dataset": settings.bq_gold_dataset,
        "model": f"{gold}.{MODEL_ID}",
        "predictions_table": f"{gold}.{PREDICTIONS_TABLE}",
        "explanations_table": f"{gold}.{EXPLANATIONS_TABLE}",
        "export_uri": f"gs://{bucket}/models/{MODEL_ID}" if bucket else "",
    }


def render_all(settings: Settings, params: Mapping[str, Any] = TRAIN_PARAMS) -> dict[str, str]:
    """Every step's SQL, in run order. Rendered before anything runs, so a missing setting
    (project, bucket) stops the command before a paid CREATE MODEL, not after it."""
    return {step: render(step, settings, params) for step in STEPS}


def render(step: str, settings: Settings, params: Mapping[str, Any] = TRAIN_PARAMS) -> str:
    """One template with every placeholder filled; an unfilled one is an error, not SQL."""
    values = names(settings)
    if step == "export_model" and not values["export_uri"]:
        raise InputError("EXPORT MODEL writes to GCS: set ECOM_GCS_BUCKET.")
    source = f"`{settings.gcp_project}.{settings.bq_gold_dataset}.fct_cart_sessions`"
    query = training_query(source, settings.seed, "bigquery", settings.train_through)
    values |= {
        "options": ",\n".join(f"    {k} = {v}" for k, v in model_options(params).items()),
        "training_query": "\n".join(f"    {line}" if line else "" for line in query.splitlines()),
        "features": ", ".join(FEATURES),
        "n_features": str(len(FEATURES)),
        "label": LABEL,
        "split_column": SPLIT_COLUMN,
    }
    try:
        return templates.render(f"bqml/{step}.sql", "bigquery", **values)
    except jinja2.UndefinedError as err:
        raise ModelError(f"{BQML_SQL_DIR / step}.sql: placeholder {err.message}") from err


def rendered_features(create_model_sql: str) -> list[str]:
    """The feature list of a rendered CREATE MODEL's final select (for checks and tests)."""
    final_select = create_model_sql.rsplit("select", 1)[1].split("from training_set")[0]
    columns = [c.strip() for c in final_select.split(",") if c.strip()]
    return [c for c in columns if c not in (LABEL, SPLIT_COLUMN)]


def rendered_options(create_model_sql: str) -> dict[str, str]:
    block = re.search(r"options \((.*?)\n\) as", create_model_sql, re.S)
    if block is None:
        raise ModelError("rendered CREATE MODEL has no options block")
    pairs = (line.strip().rstrip(",").split(" = ", 1) for line in block.group(1).splitlines())
    return {k: v for k, v in (p for p in pairs if len(p) == 2)}


# ----------------------------------------------------------------------------- running


@contextmanager
def google_errors(what: str, ran: tuple[str, ...] = ()) -> Iterator[None]:
    """Google's errors as ours: auth problems are the user's to fix (InputError, with the
    login advice), API errors are the warehouse's (WarehouseError naming the step)."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    except GoogleAuthError as err:
        raise InputError(
            f"BigQuery ML ({what}): no usable Google credentials: {err}\n{AUTH_ADVICE}"
        ) from err
    except GoogleAPIError as err:
        done = f"Steps already run: {', '.join(ran)}. " if ran else ""
        raise WarehouseError(
            f"BigQuery ML step {what} failed: {err}\n{done}Fix the cause and rerun "
            "`ecom train --engine bqml` (every step replaces what it creates)."
        ) from err


def client(settings: Settings):
    """A BigQuery client; anonymous against an emulator endpoint, as the warehouse's is."""
    with google_errors("client"):
        from google.cloud import bigquery

        if settings.bq_api_endpoint:
            from google.auth.credentials import AnonymousCredentials

            return bigquery.Client(
                project=settings.gcp_project,
                location=settings.bq_location,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": settings.bq_api_endpoint},
            )
        return bigquery.Client(project=settings.gcp_project, location=settings.bq_location)


def download_export(settings: Settings, target: Path) -> Path:
    """Copy gs://<bucket>/models/<model>/ to a local folder (same relative layout)."""
    from google.cloud import storage

    bucket_name = settings.gcs_bucket
    prefix = f"models/{MODEL_ID}/"
    count = 0
    with google_errors(f"download of gs://{bucket_name}/{prefix}", STEPS):
        bucket = storage.Client(project=settings.gcp_project).bucket(bucket_name)
        for blob in bucket.list_blobs(prefix=prefix):
            if blob.name.endswith("/"):
                continue
            local = target / blob.name[len(prefix) :]
            local.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(local))
            count += 1
    if count == 0:
        raise ModelError(f"gs://{bucket_name}/{prefix}: EXPORT MODEL wrote nothing there.")
    return target


def train_bqml(settings: Settings, *, n_boot: int = 200, progress=None) -> TrainResult:
    """Run the templates in order, then import the exported model like a local one.

    All six are rendered first and the client is created after: a missing setting or
    credential costs nothing, and no step runs unless every step can.
    """
    statements = render_all(settings)
    bq = client(settings)
    task = progress.add_task("BigQuery ML", total=len(STEPS) + 1) if progress else None
    results: dict[str, list[dict[str, Any]]] = {}
    for i, (step, sql) in enumerate(statements.items()):
        with google_errors(step, STEPS[:i]):
            rows = bq.query(sql).result()
            if step in ("evaluate", "global_explain"):
                results[step] = [dict(row.items()) for row in rows]
        if progress is not None:
            progress.advance(task)
    with tempfile.TemporaryDirectory() as tmp:
        export = download_export(settings, Path(tmp))
        result = import_export(
            export,
            settings,
            bqml_results={
                "ml_evaluate": results.get("evaluate", []),
                "ml_global_explain": results.get("global_explain", []),
            },
            n_boot=n_boot,
        )
    if progress is not None:
        progress.advance(task)
    return result


def _imputed(model: artifact.LoadedModel, reference: Mapping[str, Any]) -> dict[str, Any]:
    """The reference sample's features as the export's booster sees them (means imputed)."""
    import numpy as np

    matrix = model.impute(np.column_stack([reference[name] for name in FEATURES]))
    return {name: matrix[:, i] for i, name in enumerate(FEATURES)}


def import_export(
    export_dir: Path,
    settings: Settings,
    *,
    bqml_results: Mapping[str, Any] | None = None,
    n_boot: int = 200,
    out_dir: Path | None = None,
) -> TrainResult:
    """Validate an EXPORT MODEL folder against the contract and write our model folder.

    The booster is re-saved as UBJSON (xgboost 3.1+ cannot read the legacy binary); the
    metadata and vocabularies are kept as exported. The card gets the same metrics as a local
    run, computed on the same held-out sessions, plus what ML.EVALUATE reported.
    """
    from pipeline.model.dataset import time_split
    from pipeline.model.evaluate import band_table, baselines, evaluate
    from pipeline.model.train import (
        REFIT_BOOSTER,
        evaluate_split,
        feature_stats,
        importance_on,
        load_training_set,
        measure_injected,
        model_card,
        reference_sample,
    )
    from pipeline.serving.risk import DEFAULT_THRESHOLDS

    model = artifact.load_model(export_dir)  # raises naming the file when it does not fit
    data = load_training_set(settings)
    train, test = ~data.is_eval, data.is_eval
    p = model.predict_matrix(data.X[test])
    report = {
        "description": "held-out sessions of the CUSTOM split (same rows as the local run)",
        "booster": "the shipped booster (BigQuery ML, trained on this split's training rows)",
        "train_rows": int(train.sum()),
        "test_rows": int(test.sum()),
        "model": evaluate(data.y[test], p, seed=settings.seed, n_boot=n_boot),
        "baselines": baselines(
            data.X[train],
            data.y[train],
            data.X[test],
            data.y[test],
            seed=settings.seed,
            n_boot=n_boot,
        ),
        "risk_bands": band_table(data.y[test], p, DEFAULT_THRESHOLDS),
    }
    # The time split, as in a local run: a booster refitted on the earlier months. BigQuery ML
    # is not asked for a second (paid) model, so it is refitted here with xgboost and the same
    # parameters; the card says so. Scoring the imported model on the last month instead would
    # count sessions it trained on.
    _, time_report = evaluate_split(data, time_split(data), TRAIN_PARAMS, settings.seed, n_boot)
    time_report["booster"] = f"{REFIT_BOOSTER}; refitted locally, not by BigQuery ML"
    evaluations = {"random_split": report, "time_split": time_report, **(bqml_results or {})}
    reference = reference_sample(data, train, settings.seed)
    # The export's booster is part of the id: BigQuery ML's trainer version is not among the
    # library versions recorded here, so the same data could give another booster.
    card = model_card(
        data,
        TRAIN_PARAMS,
        settings.seed,
        evaluations,
        "bqml",
        through=settings.train_through,
        importance=importance_on(model.booster, _imputed(model, reference), model.positive_index),
        injected=measure_injected(settings),
        booster_sha256=hashlib.sha256(
            (export_dir / artifact.BOOSTER_FILE).read_bytes()
        ).hexdigest(),
        extra={
            "trainer": f"BigQuery ML BOOSTED_TREE_CLASSIFIER, exported as {model.objective}",
            "objective": model.objective,
            "feature_ranges": feature_stats(data.X[train]),
        },
    )

    def write(folder: Path) -> Path:
        return write_model(
            folder,
            model.booster,
            model.metadata,
            card,
            reference,
            assets_from=export_dir / "assets",
        )

    folder = write(out_dir) if out_dir else registry.save_version(settings.models_dir, write)
    return TrainResult(folder, card.to_dict())
