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

(P: the path's d distinct features): the Shapley value of the leaf's game. The o_i follow from
which of the path's nodes the row follows, so every leaf's contributions are a table with one
row per pattern of its nodes, computed once; a request computes every leaf's pattern at once
(numpy over the flattened paths), gathers one row per leaf and sums by feature. The leaf a row
reaches is the one whose nodes it all follows, so the same pass gives the margin: intercept + the reached leaves summed in double, as the SQL scorers sum them. Splits use
pipeline.serving.trees' float32 edges, so routing is xgboost's; the tables are checked against
xgboost when built (api.moment_scorer) and not used if they disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.serving.trees import Leaf, MarginModel, Node, Split

# Table cells (leaves x 2^depth rows x distinct features): beyond this, or beyond paths of 8
# nodes (every leaf has a row per pattern of the deepest path's nodes), the tables are not
# built and xgboost scores each row (api.moment_scorer).
MAX_TABLE_CELLS = 20_000_000
MAX_DEPTH = 8


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
        # Rows are looked up by the bits of the path's NODES (followed or not), padded to the
        # deepest path with nodes every row follows: one matmul gives every leaf's row.
        depth = max(1, max((len(p.nodes) for p in paths), default=0))
        width = max(1, max((len(p.features) for p in paths), default=0))
        cells = len(paths) * 2**depth * width
        if depth > MAX_DEPTH or cells > MAX_TABLE_CELLS:
            raise ValueError(
                f"the SHAP tables would have {cells:,} cells for paths of depth {depth} "
                f"(at most {MAX_TABLE_CELLS:,} cells and depth {MAX_DEPTH})"
            )
        n_nodes = len(node_feature)
        # one more "node" that every row follows (x < inf; missing: yes): the padding of
        # shorter paths points at it
        self._feature = np.asarray([*node_feature, 0], dtype=np.intp)
        self._edge = np.asarray([*node_edge, math.inf])
        self._missing_yes = np.asarray([*node_missing_yes, True])
        # (depth, leaves): one row per position on the paths, so a pattern is a small matmul
        self._path_node = np.full((depth, len(paths)), n_nodes, dtype=np.intp)
        self._path_yes = np.ones((depth, len(paths)), dtype=bool)
        self._powers = 2.0 ** np.arange(depth)
        leaf_feature = np.full((len(paths), width), n_features, dtype=np.intp)
        self._full = float(2**depth - 1)  # every node followed: the leaf the row reaches
        self._offset = np.arange(len(paths), dtype=np.float64) * 2**depth
        self._value = np.asarray([p.value for p in paths])
        self._table = np.zeros((len(paths) * 2**depth, width), dtype=np.float64)
        node_bits = (np.arange(2**depth)[:, None] >> np.arange(depth)) & 1  # (2^depth, depth)
        for k, p in enumerate(paths):
            for position, (node, yes) in enumerate(p.nodes):
                self._path_node[position, k] = node
                self._path_yes[position, k] = yes
            leaf_feature[k, : len(p.features)] = p.features
            # a node pattern's one fractions: a feature is followed when all its nodes are
            slots = np.asarray(p.slots, dtype=np.intp)
            feature_bits = np.zeros(2**depth, dtype=np.intp)
            for slot in range(len(p.features)):
                followed = node_bits[:, : len(p.nodes)][:, slots == slot].all(axis=1)
                feature_bits |= followed.astype(np.intp) << slot
            rows = slice(k * 2**depth, (k + 1) * 2**depth)
            self._table[rows, : len(p.features)] = leaf_table(p.value, p.zeros)[feature_bits]
        self._leaf_feature = leaf_feature.ravel()

    def explain(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        """(margin, SHAP values) of one row (NaN = missing: the split's default branch).

        Every step is one numpy call over all leaves (a few microseconds each): the pattern of
        each leaf's nodes is the matmul of their bits with powers of two (BLAS, exact in double
        for paths of up to 8 nodes)."""
        x = row[self._feature]
        yes = x < self._edge  # False for a missing value: its default branch decides
        if np.isnan(row).any():
            yes = np.where(np.isnan(x), self._missing_yes, yes)
        follows = (yes[self._path_node] == self._path_yes).view(np.uint8)
        pattern = self._powers @ follows
        margin = self.intercept + float(self._value @ (pattern == self._full))
        rows = self._table[(self._offset + pattern).astype(np.intp)]
        shap = np.bincount(self._leaf_feature, weights=rows.ravel(), minlength=self.n_features + 1)
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
