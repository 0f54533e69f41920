"""The drift tests reuse the model tests' trained models (one small real training each)."""

from tests.model.conftest import moment_trained, trained  # noqa: F401 (fixtures)
