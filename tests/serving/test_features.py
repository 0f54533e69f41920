"""The feature contract: one definition, encodings, ranges, and a light import footprint."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from pipeline.serving import features
from pipeline.settings import REPO_ROOT


def test_contract_order_and_label():
    assert features.FEATURES == (
        "total_views",
        "total_carts",
        "session_duration_minutes",
        "experiment_group",
    )
    assert features.LABEL == "abandoned_cart"
    assert features.GROUP_CODES == {"control": 0, "treatment": 1}


@pytest.mark.parametrize(
    ("value", "expected"), [("treatment", 1.0), ("Control", 0.0), (1, 1.0), (0, 0.0)]
)
def test_group_encoding(value, expected):
    assert features.encode_group(value) == expected


def test_group_missing_and_invalid():
    assert math.isnan(features.encode_group(None))
    with pytest.raises(ValueError, match="experiment_group"):
        features.encode_group("variant-b")
    with pytest.raises(ValueError, match="experiment_group"):
        features.encode_group(2)


def test_out_of_range_and_wrong_type_name_the_field():
    with pytest.raises(ValueError, match=r"total_carts=0 is outside the valid range \[1, "):
        features.encode_value("total_carts", 0)
    with pytest.raises(ValueError, match="session_duration_minutes=-1"):
        features.encode_value("session_duration_minutes", -1.0)
    with pytest.raises(ValueError, match="total_views must be a number"):
        features.encode_value("total_views", "12")


def test_to_matrix_keeps_order_and_missing_values():
    matrix = features.to_matrix(
        [
            {
                "total_views": 3,
                "total_carts": 1,
                "session_duration_minutes": 2.5,
                "experiment_group": "treatment",
            },
            {"total_views": 0, "total_carts": 2, "experiment_group": "control"},
        ]
    )
    assert matrix.shape == (2, 4)
    np.testing.assert_array_equal(matrix[0], [3, 1, 2.5, 1])
    assert math.isnan(matrix[1, 2]) and matrix[1, 3] == 0


def test_contract_and_loader_import_without_the_batch_stack():
    """The API image imports these two modules: no polars, duckdb, dbt, shap or evidently.

    (xgboost itself imports sklearn and pandas when they are installed; they are optional.)
    """
    code = (
        "import sys, pipeline.serving.features, pipeline.serving.artifact\n"
        "heavy = {'polars', 'duckdb', 'dbt', 'evidently', 'shap', 'matplotlib'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
