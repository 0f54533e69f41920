"""The drift tests reuse the model tests' trained model (one small real training)."""

from tests.model.conftest import trained  # noqa: F401 (a fixture)
