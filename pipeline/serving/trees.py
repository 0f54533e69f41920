"""THE tree engine: a booster's trees read once, as plain data, for every scorer that is not
xgboost itself: the SQL compilers (pipeline/model/sql_scoring.py) and the API's lookup tables
(api/scorer.py). Split edges in double precision, the margin as intercept plus signed trees, the
grid of cells on which the model is constant, and the sigmoid that turns a margin into P.

Written by hand because no maintained library exposes xgboost's trees this way (m2cgen emits
code, not SQL, and knows nothing of cells). Every fact here is checked against the booster by
tests/serving/test_trees.py:

- xgboost routes x left when float32(x) < threshold. `float32_edge` turns that into a double
  comparison, `x < edge`, true for exactly the same doubles: ±inf, -0.0 and values beyond
  float32's range (which round to ±inf) included. SQL engines need no FLOAT32 then (BigQuery
  has none; DuckDB's cast fails beyond its range), and `bin_of`/`bins` place a value among
  sorted thresholds by the same rule.
- A missing input (NaN for xgboost; NULL or NaN in SQL) takes the split's default branch.
- margin = intercept + the sum of leaves: binary:logistic's intercept is logit(base_score)
  (xgboost 3.x stores a probability); a two-class multi:softprob model (BigQuery ML) gives
  P(positive) = sigmoid(m_positive - m_other), so its trees add or subtract.
- The model is constant on each cell of the grid cut by its thresholds; a cell's margin is
  xgboost's own margin at one point of the cell, so the grid holds what the booster computes
  (in float32, as it sums), imputation of BigQuery ML exports included.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import xgboost as xgb

from pipeline.errors import ModelError

if TYPE_CHECKING:
    from pipeline.serving.artifact import LoadedModel

# Largest grid one part of the lookup table may have (cells, 12 bytes each in DuckDB). The
# shipped model's grid has ~0.6M cells; bigger models are split into parts that add up.
MAX_GRID_CELLS = 2_000_000
# Cells predicted per xgboost call while filling a grid (bounds the memory it takes).
_CHUNK_CELLS = 1 << 18
_FLOAT32_OVERFLOW = 2.0**128  # the first power of two float32 cannot hold


def float32_edge(threshold: float) -> float:
    """The smallest double that rounds (to nearest, ties to even) to float32 `threshold` or
    above, so that for every double x: x < edge  <=>  float32(x) < threshold."""
    t = np.float32(threshold)
    if not np.isfinite(t):
        raise ModelError(f"split threshold {threshold!r} is not finite")
    with np.errstate(over="ignore"):
        below = float(np.nextafter(t, np.float32(-np.inf)))
    if math.isinf(below):  # t is float32's lowest value; its neighbour would be -2**128
        below = -_FLOAT32_OVERFLOW
    middle = (below + float(t)) / 2  # exact: float32 neighbours differ in few bits
    with np.errstate(over="ignore"):
        rounds_up = np.float32(middle) == t
    return middle if rounds_up else float(np.nextafter(middle, np.inf))


def bin_of(value: float, edges: Sequence[float]) -> int:
    """The bin of one value among sorted float32 edges: k when edges[k-1] <= value < edges[k]
    (that is, thresholds[k-1] <= float32(value) < thresholds[k]); len(edges) + 1 if missing."""
    return len(edges) + 1 if value != value else bisect.bisect_right(edges, value)


def bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """`bin_of` over an array (NaN = missing)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    out[np.isnan(values)] = len(edges) + 1
    return out


def sigmoid(margin: float) -> float:
    """P(positive class) of a margin (log-odds), without overflow for large |margin|."""
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    z = math.exp(margin)
    return z / (1.0 + z)


@dataclass(frozen=True)
class Leaf:
    node_id: int
    value: float  # the float32 leaf value, exactly
    cover: float = math.nan  # training hessian sum that reached it (TreeSHAP's weights)


@dataclass(frozen=True)
class Split:
    feature: int  # booster column
    threshold: float  # float32 value, exactly
    edge: float  # float32_edge(threshold)
    yes: Node  # x < threshold
    no: Node
    missing_yes: bool  # the default branch of a missing value is `yes`
    cover: float = math.nan


Node = Leaf | Split


@dataclass(frozen=True)
class MarginModel:
    """margin = intercept + sum(sign * tree); P(positive class) = sigmoid(margin)."""

    intercept: float
    trees: tuple[Node, ...]
    signs: tuple[float, ...]
    rounds: tuple[tuple[int, int], ...]  # [first, end) tree indices of each boosting round


def _node(node: dict, n_features: int) -> Node:
    if "leaf" in node:
        return Leaf(int(node["nodeid"]), float(np.float32(node["leaf"])), _cover(node))
    children = {child["nodeid"]: child for child in node["children"]}
    feature = int(str(node["split"]).lstrip("f"))
    if not 0 <= feature < n_features:
        raise ModelError(f"a split on column {feature}, but the booster has {n_features}")
    threshold = float(np.float32(node["split_condition"]))
    return Split(
        feature=feature,
        threshold=threshold,
        edge=float32_edge(threshold),
        yes=_node(children[node["yes"]], n_features),
        no=_node(children[node["no"]], n_features),
        missing_yes=node["missing"] == node["yes"],
        cover=_cover(node),
    )


def _cover(node: dict) -> float:
    return float(np.float32(node["cover"])) if "cover" in node else math.nan


def _base_scores(config: dict) -> list[float]:
    text = str(config["learner"]["learner_model_param"]["base_score"]).strip("[]")
    return [float(v) for v in text.split(",") if v.strip()]


def margin_model(model: LoadedModel) -> MarginModel:
    """The model's margin, in the form both SQL compilers emit."""
    if not model.is_numeric_only:
        raise ModelError(
            f"{model.path}: SQL scoring compiles numeric inputs only; this model has categorical "
            "encodings. Score it with ML.PREDICT on BigQuery or the Python loader."
        )
    booster = model.booster
    config = json.loads(booster.save_config())
    raw = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]
    classes = [int(c) for c in raw["tree_info"]]
    indptr = [int(i) for i in raw["iteration_indptr"]]
    n_features = booster.num_features()
    dump = booster.get_dump(dump_format="json", with_stats=True)
    trees = tuple(_node(json.loads(t), n_features) for t in dump)
    base = _base_scores(config)
    if model.objective == "binary:logistic":
        intercept = math.log(base[0] / (1.0 - base[0]))
        signs = tuple(1.0 for _ in trees)
    else:
        if len(model.class_names) != 2:
            raise ModelError(
                f"{model.path}: SQL scoring compiles two-class models; this one has "
                f"{len(model.class_names)} classes. Score it with the Python loader."
            )
        positive = model.positive_index
        # softmax of two margins is the sigmoid of their difference; base scores are margins
        per_class = base if len(base) == 2 else [base[0], base[0]]
        intercept = per_class[positive] - per_class[1 - positive]
        signs = tuple(1.0 if c == positive else -1.0 for c in classes)
    rounds = tuple(pairwise(indptr))
    return MarginModel(intercept, trees, signs, rounds)


def leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, Leaf):
        yield node
    else:
        yield from leaves(node.yes)
        yield from leaves(node.no)


def splits(node: Node) -> Iterator[Split]:
    if isinstance(node, Split):
        yield node
        yield from splits(node.yes)
        yield from splits(node.no)


# ----------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class GridPart:
    """The trees of consecutive rounds as a table: one margin per cell of their grid.

    On feature features[i], bin k in 0..n (n = len(thresholds[i])) holds the x with
    thresholds[k-1] <= float32(x) < thresholds[k]; bin n+1 holds missing values. A cell is one
    bin per feature; its key is offset + the bins read as a mixed-radix number (the first
    feature most significant), and margins[key - offset] is its margin.
    """

    features: tuple[int, ...]
    thresholds: tuple[tuple[float, ...], ...]
    offset: int
    margins: np.ndarray

    @property
    def edges(self) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(float32_edge(t) for t in ts) for ts in self.thresholds)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Bins per feature: below the first threshold, one per threshold, and missing."""
        return tuple(len(ts) + 2 for ts in self.thresholds)

    @property
    def strides(self) -> tuple[int, ...]:
        sizes = self.sizes
        return tuple(math.prod(sizes[i + 1 :]) for i in range(len(sizes)))

    @property
    def cells(self) -> int:
        return math.prod(self.sizes)


def _cells(thresholds: dict[int, set[float]]) -> int:
    return math.prod(len(ts) + 2 for ts in thresholds.values())


def _merge(a: dict[int, set[float]], b: dict[int, set[float]]) -> dict[int, set[float]]:
    return {f: a.get(f, set()) | b.get(f, set()) for f in sorted(set(a) | set(b))}


def round_thresholds(margin: MarginModel, first: int, end: int) -> dict[int, set[float]]:
    """The split thresholds of trees first..end-1, by feature."""
    found: dict[int, set[float]] = {}
    for tree in margin.trees[first:end]:
        for split in splits(tree):
            found.setdefault(split.feature, set()).add(split.threshold)
    return found


def _groups(margin: MarginModel, max_cells: int) -> list[tuple[int, int, dict[int, set[float]]]]:
    """Consecutive rounds grouped greedily so that each group's grid stays within max_cells
    (a single round bigger than that stays alone)."""
    groups: list[tuple[int, int, dict[int, set[float]]]] = []
    start, current = 0, {}
    for r, (first, end) in enumerate(margin.rounds):
        merged = _merge(current, round_thresholds(margin, first, end))
        if r > start and _cells(merged) > max_cells:
            groups.append((start, r, current))
            start, merged = r, round_thresholds(margin, first, end)
        current = merged
    groups.append((start, len(margin.rounds), current))
    return groups


def representatives(thresholds: Sequence[float]) -> np.ndarray:
    """One value of each bin: below the first threshold, each threshold, NaN (missing)."""
    ts = np.asarray(thresholds, dtype=np.float32)
    below = np.nextafter(ts[0], np.float32(-np.inf))
    return np.concatenate([[below], ts, [np.nan]]).astype(np.float64)


def grid_parts(model: LoadedModel, max_cells: int = MAX_GRID_CELLS) -> tuple[GridPart, ...]:
    """The model as grid parts: intercept + the parts' cell margins is its margin.

    Each cell is scored at one point of it, imputed as the loader does. A single part holds
    xgboost's own margin there, less the intercept (bit for bit what the booster sums, in
    float32); several parts hold their trees' leaves summed in double (pred_leaf), since
    float32 sums of each part would add up their rounding errors."""
    margin = margin_model(model)
    booster = model.booster
    width = booster.num_features()
    parts: list[GridPart] = []
    offset = 0
    for first_round, end_round, found in _groups(margin, max_cells):
        features = tuple(found)
        thresholds = tuple(tuple(sorted(found[f])) for f in features)
        values = [representatives(ts) for ts in thresholds]
        shape = [len(v) for v in values]
        n_cells = math.prod(shape)
        sliced = booster[first_round:end_round]
        whole = (first_round, end_round) == (0, len(margin.rounds))
        trees = range(margin.rounds[first_round][0], margin.rounds[end_round - 1][1])
        leaf_values = [leaf_table(margin.trees[t]) for t in trees]
        margins = np.empty(n_cells, dtype=np.float64)
        for start in range(0, n_cells, _CHUNK_CELLS):
            index = np.arange(start, min(start + _CHUNK_CELLS, n_cells))
            X = np.full((index.size, width), np.nan)
            if features:
                cell_bins = np.unravel_index(index, shape)
                for i, column in enumerate(features):
                    X[:, column] = values[i][cell_bins[i]]
            X = model.impute(X)
            if whole:
                margins[index] = booster_margin(model, sliced, X) - margin.intercept
            else:
                leaf_ids = sliced.predict(xgb.DMatrix(X, missing=np.nan), pred_leaf=True)
                leaf_ids = leaf_ids.astype(np.int64).reshape(index.size, len(leaf_values))
                total = np.zeros(index.size)
                for i, t in enumerate(trees):  # in tree order, in double
                    total += margin.signs[t] * leaf_values[i][leaf_ids[:, i]]
                margins[index] = total
        parts.append(GridPart(features, thresholds, offset, margins))
        offset += n_cells
    return tuple(parts)


def booster_margin(model: LoadedModel, booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """xgboost's margin of the positive class (two-class softprob: m_positive - m_other)."""
    raw = np.asarray(booster.inplace_predict(X, missing=np.nan, predict_type="margin"))
    raw = raw.astype(np.float64)
    if model.objective == "binary:logistic":
        return raw.reshape(-1)
    raw = raw.reshape(X.shape[0], -1)
    return raw[:, model.positive_index] - raw[:, 1 - model.positive_index]


def leaf_table(tree: Node) -> np.ndarray:
    """Leaf value by node id (what pred_leaf returns)."""
    found = list(leaves(tree))
    table = np.full(max(leaf.node_id for leaf in found) + 1, np.nan)
    for leaf in found:
        table[leaf.node_id] = leaf.value
    return table


def grid_margin(parts: Sequence[GridPart], intercept: float, X: np.ndarray) -> np.ndarray:
    """The margin the grid gives each row of X (NaN = missing): what the SQL computes, in
    numpy. Used by tests to tell a grid error from an SQL one."""
    X = np.asarray(X, dtype=np.float64)
    total = np.full(X.shape[0], intercept)
    for part in parts:
        key = np.zeros(X.shape[0], dtype=np.int64)
        for column, edges, stride in zip(part.features, part.edges, part.strides, strict=True):
            key += bins(X[:, column], edges) * stride
        total += part.margins[key]
    return total
