"""Score and explain sessions: the loaded model, its SHAP TreeExplainer, and a fast path for one.

Explanations are on the log-odds scale, the margin whose sigmoid is P(abandoned). For a local
`binary:logistic` booster that is the booster's margin; for a BigQuery ML `multi:softprob`
export with two classes it is margin(abandoned) - margin(purchased), so the contributions of
both engines add up to the same kind of number.

Why a fast path: one xgboost call costs ~0.1-0.3 ms of fixed overhead on this machine (two of
them for a probability and its SHAP values), more than the whole budget of a /predict request.
A tree ensemble is piecewise constant: every tree routes a row by `x < threshold` tests alone,
so all rows in the same cell of its thresholds get the same leaf and the same path-dependent
SHAP values. `SessionTables` asks xgboost once, at load time, for the leaf and SHAP values of
one representative row per cell, tree by tree (at most a few hundred cells each), and a request
looks its cells up. Nothing is approximated: the numbers are xgboost's own, summed in float64
like the SQL scorer sums leaves. The tables are checked against the TreeExplainer and the loader
when built; if they ever disagree the service uses the explainer directly and says so. The trees,
their thresholds, the split rule, the intercept and the sigmoid are pipeline.serving.trees',
the one reading of the booster the SQL scorer compiles too.

One scoring path: `Scorer.probabilities` is what /predict and /bulk_predict both call (a
one-row matrix for /predict), so a session gets the same number, to the last bit, from either:
each row's leaves are summed in round order over a C-contiguous row (numpy's pairwise sum
gives the same bits for a row alone or inside a batch) and turned into a probability by
`trees.sigmoid` (math.exp: numpy's vectorized exp can differ in the last bit).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from pipeline.serving.artifact import LoadedModel, read_reference
from pipeline.serving.risk import thresholds_for
from pipeline.serving.trees import (
    MarginModel,
    bin_of,
    bins,
    float32_edge,
    leaf_table,
    margin_model,
    representatives,
    round_thresholds,
    sigmoid,
)

log = logging.getLogger("api.scorer")

# Tiny xgboost calls (the tables' construction, one-row fallbacks) run on one thread: OpenMP
# teams spin against each other on a busy 2-core machine (measured: a one-row predict went
# from ~0.5 ms to ~20 ms with the default thread count). Bulk calls keep every core.
PREDICT_THREADS = 1
MAX_CELLS_PER_TREE = 50_000
# How closely the fast path must reproduce xgboost when it is built (else it is not used).
CHECK_PROBABILITY_ATOL = 1e-6
CHECK_SHAP_ATOL = 1e-5
# Rows scored per chunk of a batch: bounds the (rows x rounds) index and leaf arrays (~6 MB
# each for 100 rounds) whatever the batch size.
CHUNK_ROWS = 8192


@dataclass(frozen=True)
class Explained:
    """One session's answer: probability, and the SHAP decomposition of its log-odds."""

    probability: float  # P(abandoned), from the trees' leaves
    base_value: float  # E[f(X)] on the log-odds scale
    contributions: tuple[float, ...]  # one per feature, contract order, log-odds

    @property
    def margin(self) -> float:
        return self.base_value + math.fsum(self.contributions)


class SessionTables:
    """Per-round lookup tables of leaf values and SHAP values (see the module docstring), built
    on the one reading of the trees (pipeline.serving.trees): its thresholds, its split rule
    and its leaves."""

    def __init__(
        self,
        model: LoadedModel,
        margin: MarginModel,
        negative: int | None,
        with_shap: bool = True,
    ) -> None:
        booster = model.booster
        n_features = booster.num_features()
        positive = model.positive_index
        per_round = [
            {f: sorted(v) for f, v in round_thresholds(margin, first, end).items()}
            for first, end in margin.rounds
        ]
        union: dict[int, set[float]] = {}
        for found in per_round:
            for f, v in found.items():
                union.setdefault(f, set()).update(v)
        # The thresholds of every feature across all trees define the request's global cells.
        self.thresholds = [sorted(union.get(f, ())) for f in range(n_features)]
        self.edges = [[float32_edge(t) for t in thr] for thr in self.thresholds]
        self.column_offsets = np.cumsum([0] + [len(t) + 2 for t in self.thresholds[:-1]])
        self._offsets = [int(o) for o in self.column_offsets]
        width = int(sum(len(t) + 2 for t in self.thresholds))

        mapping = np.zeros((len(per_round), width), dtype=np.int64)
        offsets = np.zeros(len(per_round), dtype=np.int64)
        contribution_blocks, leaf_blocks = [], []
        start = 0
        for i, ((first, end), local) in enumerate(zip(margin.rounds, per_round, strict=True)):
            used = sorted(local)
            reps = [representatives(local[f]) for f in used]
            sizes = [len(r) for r in reps]
            cells = int(np.prod(sizes)) if sizes else 1
            if cells > MAX_CELLS_PER_TREE:
                raise ValueError(f"tree {i} has {cells} cells (limit {MAX_CELLS_PER_TREE})")
            strides = np.cumprod([1, *sizes[::-1]])[:-1][::-1] if sizes else []
            grid = np.zeros((cells, n_features), dtype=np.float32)
            for f, r, stride, size in zip(used, reps, strides, sizes, strict=True):
                grid[:, f] = np.tile(
                    np.repeat(r.astype(np.float32), stride), cells // (stride * size)
                )
            # global cell g of feature f -> this round's cell index (times its stride)
            for f, stride in zip(used, strides, strict=True):
                reps_global = representatives(self.thresholds[f])
                local_edges = [float32_edge(t) for t in local[f]]
                col = int(self.column_offsets[f])
                mapping[i, col : col + len(reps_global)] = bins(reps_global, local_edges) * stride
            dmatrix = xgb.DMatrix(grid, missing=np.nan, nthread=PREDICT_THREADS)
            one = booster[i : i + 1]  # the round's trees alone (xgboost's model slicing)
            one.set_param({"nthread": PREDICT_THREADS})
            leaf_ids = np.asarray(one.predict(dmatrix, pred_leaf=True))
            leaf_ids = leaf_ids.reshape(cells, end - first).astype(np.int64)
            leaf_sum = np.zeros(cells)
            for k, t in enumerate(range(first, end)):  # signed as in the margin, in double
                leaf_sum += margin.signs[t] * leaf_table(margin.trees[t])[leaf_ids[:, k]]
            if with_shap:
                contribs = np.asarray(one.predict(dmatrix, pred_contribs=True), np.float64)
                if negative is None:  # binary:logistic: (cells, features + 1)
                    contribution_blocks.append(contribs[:, :n_features])
                else:  # multi:softprob: (cells, classes, features + 1)
                    contribution_blocks.append(
                        contribs[:, positive, :n_features] - contribs[:, negative, :n_features]
                    )
            leaf_blocks.append(leaf_sum)
            offsets[i] = start
            start += cells
        self.mapping = mapping
        # (global cell column, round): one C-contiguous (rows, rounds) index for a batch
        self.mapping_by_column = np.ascontiguousarray(mapping.T)
        self.offsets = offsets
        self.leaf = np.concatenate(leaf_blocks)  # one value per cell: its leaves, summed
        self.shap = np.concatenate(contribution_blocks) if with_shap else None
        self.cells = start

    def cell_columns(self, row: Sequence[float]) -> list[int]:
        return [
            offset + bin_of(value, edges)
            for edges, offset, value in zip(self.edges, self._offsets, row, strict=True)
        ]

    def index(self, row: Sequence[float]) -> np.ndarray:
        """One row's cell in every round (a 1-D index into `leaf` and `shap`)."""
        return self.offsets + self.mapping[:, self.cell_columns(row)].sum(axis=1)

    def contributions(self, index: np.ndarray) -> np.ndarray:
        """SHAP contributions of one row (log-odds), from its `index`."""
        assert self.shap is not None, "built without SHAP values"
        return self.shap[index].sum(axis=0)

    def leaf_sums(self, matrix: np.ndarray) -> np.ndarray:
        """Sum of leaf values (log-odds, intercept excluded) of each row of an imputed matrix.

        Every row's leaves are gathered into one C-contiguous row of a (rows, rounds) array and
        summed along it: the same arithmetic for a batch as for one row alone."""
        rows = matrix.shape[0]
        out = np.empty(rows)
        for start in range(0, rows, CHUNK_ROWS):
            part = matrix[start : start + CHUNK_ROWS]
            index = np.broadcast_to(self.offsets, (part.shape[0], self.offsets.size)).copy()
            for f, (edges, offset) in enumerate(zip(self.edges, self._offsets, strict=True)):
                index += self.mapping_by_column[offset + bins(part[:, f], edges)]
            out[start : start + part.shape[0]] = self.leaf[index].sum(axis=1)
        return out


class Scorer:
    """The served model: probabilities for many rows, probability + SHAP for one.

    Without an explainer (the bulk process) it scores but does not explain: its tables hold
    the leaf values only, built by the same code, so its probabilities are the same bits."""

    def __init__(self, model: LoadedModel, explainer: Any = None) -> None:
        self.model = model
        self.explainer = explainer
        self.thresholds = thresholds_for(model.card)
        self.feature_names = model.feature_names
        self.means = [c.mean for c in model.columns]
        self.positive = model.positive_index
        self.negative: int | None = None
        if model.objective == "multi:softprob":
            if len(model.class_names) != 2:
                raise ValueError("the API explains two-class models only")
            self.negative = 1 - self.positive
        self.base_value = self._base_value()
        # The log-odds every row starts from before its leaves (as the SQL scorer has it).
        self.intercept = 0.0
        self.tables: SessionTables | None = None
        self.fast_path_problem: str | None = None
        if not model.is_numeric_only:
            self.fast_path_problem = "the model has categorical encodings"
        else:
            try:
                margin = margin_model(model)
                self.intercept = margin.intercept
                self.tables = SessionTables(
                    model, margin, self.negative, with_shap=explainer is not None
                )
                self._check_tables()
            except Exception as err:  # never fail to serve because of the optimisation
                self.tables = None
                self.fast_path_problem = str(err)
        if self.fast_path_problem:
            log.warning(
                "fast path disabled (%s); scores come from xgboost directly",
                self.fast_path_problem,
            )

    # -- the explainer, directly (reference and fallback)
    def shap_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """TreeExplainer SHAP values of encoded rows on the log-odds scale, (rows, features)."""
        values = np.asarray(self.explainer.shap_values(self.model.impute(matrix)))
        if values.ndim == 3:
            return values[:, :, self.positive] - values[:, :, self.negative]
        return values

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        """P(abandoned) of encoded rows (NaN = missing): THE scoring function of the service,
        for one row (/predict) as for 100,000 (/bulk_predict)."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if self.tables is None:
            return self.model.predict_matrix(matrix)
        sums = self.tables.leaf_sums(self.model.impute(matrix))
        intercept = self.intercept
        return np.array([sigmoid(intercept + s) for s in sums.tolist()], dtype=np.float64)

    def explain(self, row: Sequence[float]) -> Explained:
        """Probability and SHAP contributions of one encoded row (NaN = missing)."""
        if self.tables is not None and self.tables.shap is not None:
            values = [
                m if (m is not None and v != v) else v for v, m in zip(row, self.means, strict=True)
            ]
            index = self.tables.index(values)
            # the leaves of the row's cells, summed as `probabilities` sums a batch's rows
            leaf_sum = float(self.tables.leaf[index].sum())
            return Explained(
                probability=sigmoid(self.intercept + leaf_sum),
                base_value=self.base_value,
                contributions=tuple(self.tables.contributions(index).tolist()),
            )
        matrix = np.asarray([row], dtype=np.float64)
        return Explained(
            probability=float(self.probabilities(matrix)[0]),
            base_value=self.base_value,
            contributions=tuple(self.shap_matrix(matrix)[0].tolist()),
        )

    # -- construction helpers
    def _base_value(self) -> float:
        """E[f(X)] on the log-odds scale: the bias column of xgboost's SHAP values.

        Not `explainer.expected_value`: shap 0.51 recomputes it from its own copy of the trees
        and it can differ from xgboost's bias in the third decimal (seen here), while the SHAP
        values themselves are xgboost's; with xgboost's bias they add up to the margin.
        """
        zero = xgb.DMatrix(np.zeros((1, self.model.booster.num_features())), nthread=1)
        bias = np.asarray(self.model.booster.predict(zero, pred_contribs=True), np.float64)
        if self.negative is None:
            return float(bias[0, -1])
        return float(bias[0, self.positive, -1] - bias[0, self.negative, -1])

    def _check_rows(self) -> np.ndarray:
        rng = np.random.default_rng(0)
        rows = [rng.uniform(-1, 1, (64, len(self.feature_names))) * 50]
        try:
            reference = read_reference(self.model.path)
            rows.append(np.column_stack([reference[name] for name in self.feature_names]))
        except Exception:
            pass  # an export without a reference sample: random and edge rows only
        if self.tables is not None:  # every threshold itself, and missing values
            for f, thr in enumerate(self.tables.thresholds):
                edge = np.zeros((len(thr) + 1, len(self.feature_names)))
                edge[:-1, f] = thr
                edge[-1, f] = np.nan
                rows.append(edge)
        return np.vstack(rows)

    def _check_tables(self) -> None:
        matrix = self._check_rows()
        expected_p = self.model.predict_matrix(matrix)
        got_p = self.probabilities(matrix)
        worst = float(np.max(np.abs(got_p - expected_p))) if len(matrix) else 0.0
        if worst > CHECK_PROBABILITY_ATOL:
            raise ValueError(f"lookup tables disagree with xgboost by {worst:.2e} in probability")
        if self.explainer is None:
            return
        expected_shap = self.shap_matrix(matrix)
        for i, row in enumerate(matrix.tolist()):
            got = self.explain(row)
            if got.probability != got_p[i]:
                raise ValueError(f"one row and a batch score row {row} differently")
            if (
                abs(got.probability - expected_p[i]) > CHECK_PROBABILITY_ATOL
                or np.max(np.abs(np.asarray(got.contributions) - expected_shap[i]))
                > CHECK_SHAP_ATOL
            ):
                raise ValueError(
                    f"lookup tables disagree with xgboost on row {row}: p {got.probability} vs "
                    f"{expected_p[i]}, shap {got.contributions} vs {expected_shap[i].tolist()}"
                )


def build_scorer(model: LoadedModel, explain: bool = True) -> Scorer:
    """The scorer of a loaded model; with `explain`, its TreeExplainer (built from the booster,
    not a pickle) and SHAP tables too. The bulk process scores without them."""
    if not explain:
        return Scorer(model)
    import shap  # heavy (~2 s): imported where the model is loaded, not when the app is built

    return Scorer(model, shap.TreeExplainer(model.booster))
