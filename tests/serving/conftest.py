"""Fixtures: the model tests' trained models (tests/model/conftest.py), for the serving core."""

from tests.model.conftest import missing_model, trained

__all__ = ["missing_model", "trained"]
