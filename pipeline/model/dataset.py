"""The training set, read from gold.fct_cart_sessions, and the two evaluation splits.

The random split is defined in SQL (sql/model/training_set.sql) so that BigQuery ML
(DATA_SPLIT_METHOD='CUSTOM') and local training hold out exactly the same sessions: within each
label, sessions are ordered by the MD5 of "<seed>|<session_id>" and the first fifth is the
evaluation set. Stratified, seeded, and the same on DuckDB and BigQuery (both render MD5 as
lower-case hex).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from pipeline.errors import DataContractError
from pipeline.serving.features import FEATURES, GROUP_CODES, LABEL
from pipeline.settings import month_key
from pipeline.warehouse.dialect import Engine, dialect_named
from pipeline.warehouse.templates import render

Dialect = Engine  # an engine name; its SQL forms live in pipeline.warehouse.dialect
# One session in EVAL_EVERY (per label) is held out: a 20% test set.
EVAL_EVERY = 5
SPLIT_COLUMN = "is_eval"


def group_code_sql(column: str = "experiment_group") -> str:
    """The contract's experiment_group encoding as SQL (same text on both engines)."""
    cases = " ".join(f"when '{k}' then {v}" for k, v in GROUP_CODES.items())
    return f"case lower({column}) {cases} end"


def encoded_features() -> list[str]:
    """The contract's features as select items, experiment_group encoded as the model reads it."""
    return [
        f"{group_code_sql()} as experiment_group" if name == "experiment_group" else name
        for name in FEATURES
    ]


def training_query(
    table: str, seed: int, dialect: Dialect = "duckdb", through: str | None = None
) -> str:
    """Contract features (encoded), the label as 0/1, ids, time columns and the split flag,
    for the sessions of the training window (every month, or up to `through`):
    sql/model/training_set.sql."""
    return render(
        "model/training_set.sql",
        dialect_named(dialect),
        table=table,
        seed=int(seed),
        through=None if through is None else month_key(through),
        encoded_features=encoded_features(),
        features=FEATURES,
        label=LABEL,
        eval_every=EVAL_EVERY,
        split_column=SPLIT_COLUMN,
    )


@dataclass
class TrainingSet:
    """Model inputs in contract order plus what the splits and the model card need."""

    X: np.ndarray
    y: np.ndarray
    is_eval: np.ndarray
    session_id: np.ndarray
    user_id: np.ndarray
    session_month: np.ndarray
    session_start_min: str
    session_start_max: str

    def __len__(self) -> int:
        return int(self.y.size)

    def fingerprint(self) -> str:
        """SHA-256 of the rows the model sees (ids, inputs, label, split), in session_id order."""
        order = np.argsort(self.session_id, kind="stable")
        digest = hashlib.sha256()
        digest.update("\n".join(self.session_id[order].astype(str)).encode())
        digest.update(np.ascontiguousarray(self.X[order]).tobytes())
        digest.update(self.y[order].astype(np.int8).tobytes())
        digest.update(self.is_eval[order].astype(np.int8).tobytes())
        return digest.hexdigest()


def from_frame(frame) -> TrainingSet:
    """A TrainingSet from the result of `training_query`; checks it can train a classifier."""
    if frame.height == 0:
        raise DataContractError(
            "fct_cart_sessions has no rows: nothing to train on. Build the warehouse first "
            "(`ecom ingest` then `ecom warehouse`)."
        )
    y = frame[LABEL].to_numpy().astype(np.int8)
    check_two_classes(y, "fct_cart_sessions")
    starts = frame["session_start"]
    return TrainingSet(
        X=frame.select(FEATURES).cast({name: float for name in FEATURES}).to_numpy(),
        y=y,
        is_eval=frame[SPLIT_COLUMN].to_numpy().astype(bool),
        session_id=frame["session_id"].cast(str).to_numpy(),
        user_id=frame["user_id"].to_numpy(),
        session_month=frame["session_month"].cast(str).to_numpy(),
        session_start_min=str(starts.min()),
        session_start_max=str(starts.max()),
    )


def check_two_classes(y: np.ndarray, what: str) -> None:
    """Stop with a clear message when a set is empty or holds a single class."""
    if y.size == 0:
        raise DataContractError(f"{what} is empty: nothing to train on.")
    classes = np.unique(y)
    if classes.size < 2:
        kind = "abandoned" if classes[0] == 1 else "purchased"
        raise DataContractError(
            f"{what} holds a single class (all {y.size} sessions {kind}): a classifier needs "
            "both abandoned and purchased cart sessions. Check the data window or regenerate."
        )


@dataclass
class Split:
    name: str
    train: np.ndarray  # boolean masks over the TrainingSet's rows
    test: np.ndarray
    note: str


def random_split(data: TrainingSet) -> Split:
    return Split(
        "random",
        ~data.is_eval,
        data.is_eval.copy(),
        f"stratified by label, seeded: 1 in {EVAL_EVERY} sessions of each class held out",
    )


def time_split(data: TrainingSet) -> Split:
    """Train on the earlier months, test on the last; a test-month user never trains."""
    months = np.unique(data.session_month)
    if months.size < 2:
        raise DataContractError(
            f"the time split needs at least two months of sessions, found {list(months)}."
        )
    last = months[-1]
    test = data.session_month == last
    test_users = np.unique(data.user_id[test])
    earlier = ~test
    train = earlier & ~np.isin(data.user_id, test_users)
    dropped = int(earlier.sum() - train.sum())
    return Split(
        "time",
        train,
        test,
        f"train on {', '.join(months[:-1])}, test on {last}; {dropped} earlier sessions of "
        "users who also shop in the test month left out of training",
    )
