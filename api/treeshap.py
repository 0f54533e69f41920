"""xgboost's SHAP values of one row, from tables built at load time: TreeSHAP at a lookup's cost.

Why: the moment model has 18 features, so the session model's lookup tables (one cell per
combination of every threshold in a tree, api.scorer) grow past any memory, shap's
TreeExplainer takes ~30 ms a row here, and xgboost's own `pred_contribs` a few hundred
microseconds of call overhead: more than the rest of a /sessions/score request.

The tables hold, leaf by leaf, path-dependent TreeSHAP (Lundberg et al. 2020, the algorithm
xgboost's pred_contribs runs). Along the path to a leaf of value v, each distinct feature i has
a zero fraction z_i (the product, over the path's splits on i, of child cover / node cover) and
a one fraction o_i (1 when the row follows the path at all of them, else 0). The leaf adds to
each feature j on its path

    v (o_j - z_j) sum over S in P-{j} of |S|! (d-|S|-1)! / d!  prod_{i in S} o_i  prod_{i not in S} z_i

(P: the path's d distinct features): the Shapley value of the leaf's game. The o_i are d bits,
so every leaf's contributions are a table of 2^d rows, computed once; a request computes the
bits of all leaves at once (numpy over the flattened paths), gathers one row per leaf and sums
by feature. The leaf a row reaches is the one whose bits are all set, so the same pass gives the
margin: intercept + the reached leaves summed in double, as the SQL scorers sum them. Splits use
pipeline.serving.trees' float32 edges, so routing is xgboost's; the tables are checked against
xgboost when built (api.moment_scorer) and not used if they disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.serving.trees import Leaf, MarginModel, Node, Split

# Table rows (2^d per leaf) x the longest path: beyond this the tables are not built.
MAX_TABLE_CELLS = 20_000_000


@dataclass(frozen=True)
class _Path:
    value: float  # signed leaf value
    nodes: list[tuple[int, bool]]  # (internal node index, follows `yes`)
    features: list[int]  # distinct features, in path order
    slots: list[int]  # for each node, its feature's position in `features`
    zeros: list[float]  # zero fraction per distinct feature


class PathShap:
    """SHAP values (margin scale) and the margin of one row, for every tree of a MarginModel."""

    def __init__(self, margin: MarginModel, n_features: int) -> None:
        self.n_features = n_features
        self.intercept = margin.intercept
        node_feature: list[int] = []
        node_edge: list[float] = []
        node_missing_yes: list[bool] = []
        paths: list[_Path] = []

        def walk(node: Node, sign: float, trail: list[tuple[Split, bool, int, float]]) -> None:
            if isinstance(node, Leaf):
                paths.append(_path(node.value * sign, trail))
                return
            index = len(node_feature)
            node_feature.append(node.feature)
            node_edge.append(node.edge)
            node_missing_yes.append(node.missing_yes)
            for child, yes in ((node.yes, True), (node.no, False)):
                walk(child, sign, [*trail, (node, yes, index, child.cover / node.cover)])

        for tree, sign in zip(margin.trees, margin.signs, strict=True):
            walk(tree, sign, [])
        depth = max((len(p.nodes) for p in paths), default=0)
        width = max((len(p.features) for p in paths), default=0)
        cells = sum(2 ** len(p.features) for p in paths) * max(width, 1)
        if cells > MAX_TABLE_CELLS:
            raise ValueError(
                f"the SHAP tables would have {cells:,} cells ({MAX_TABLE_CELLS:,} max)"
            )
        n_nodes = len(node_feature)
        # one more "node" that every row follows: the padding of shorter paths points at it
        self._feature = np.asarray([*node_feature, 0], dtype=np.int64)
        self._edge = np.asarray([*node_edge, math.inf])
        self._missing_yes = np.asarray([*node_missing_yes, True])
        self._path_node = np.full((len(paths), depth), n_nodes, dtype=np.int64)
        self._path_yes = np.ones((len(paths), depth), dtype=bool)
        self._path_bit = np.zeros((len(paths), depth), dtype=np.int64)
        self._leaf_feature = np.full((len(paths), width), n_features, dtype=np.int64)
        self._full = np.zeros(len(paths), dtype=np.int64)
        self._offset = np.zeros(len(paths), dtype=np.int64)
        self._value = np.asarray([p.value for p in paths])
        tables = []
        offset = 0
        for k, p in enumerate(paths):
            for position, ((node, yes), slot) in enumerate(zip(p.nodes, p.slots, strict=True)):
                self._path_node[k, position] = node
                self._path_yes[k, position] = yes
                self._path_bit[k, position] = 1 << slot
            self._leaf_feature[k, : len(p.features)] = p.features
            self._full[k] = (1 << len(p.features)) - 1
            self._offset[k] = offset
            table = np.zeros((2 ** len(p.features), width))
            table[:, : len(p.features)] = leaf_table(p.value, p.zeros)
            tables.append(table)
            offset += len(table)
        self._table = np.concatenate(tables) if tables else np.zeros((0, width))

    def explain(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        """(margin, SHAP values) of one row (NaN = missing: the split's default branch)."""
        x = row[self._feature]
        yes = np.where(np.isnan(x), self._missing_yes, x < self._edge)
        yes[-1] = True
        follows = yes[self._path_node] == self._path_yes
        failed = np.bitwise_or.reduce(np.where(follows, 0, self._path_bit), axis=1)
        pattern = self._full & ~failed
        margin = self.intercept + float(self._value[pattern == self._full].sum())
        rows = self._table[self._offset + pattern]
        shap = np.bincount(
            self._leaf_feature.ravel(), weights=rows.ravel(), minlength=self.n_features + 1
        )
        return margin, shap[: self.n_features]


def _path(value: float, trail: list) -> _Path:
    features: list[int] = []
    slots: list[int] = []
    zeros: list[float] = []
    nodes = []
    for split, yes, index, fraction in trail:
        if split.feature not in features:
            features.append(split.feature)
            zeros.append(1.0)
        slot = features.index(split.feature)
        slots.append(slot)
        zeros[slot] *= fraction
        nodes.append((index, yes))
    return _Path(value, nodes, features, slots, zeros)


def leaf_table(value: float, zeros: list[float]) -> np.ndarray:
    """(2^d, d): one leaf's SHAP contributions for every pattern of one fractions (bit i of
    the row number = o_i)."""
    d = len(zeros)
    if d == 0:
        return np.zeros((1, 0))
    z = np.asarray(zeros)
    ones = (np.arange(2**d)[:, None] >> np.arange(d)) & 1  # (2^d, d)
    weights = np.asarray(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)]
    )
    out = np.empty((2**d, d))
    for j in range(d):
        # coefficients of prod_{i != j} (o_i t + z_i): c[:, s] = weight of |S| = s
        c = np.zeros((2**d, d))
        c[:, 0] = 1.0
        for i in range(d):
            if i == j:
                continue
            shifted = np.zeros_like(c)
            shifted[:, 1:] = c[:, :-1]
            c = c * z[i] + shifted * ones[:, [i]]
        out[:, j] = value * (ones[:, j] - z[j]) * (c @ weights)
    return out
