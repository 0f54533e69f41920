"""The model card's data (pipeline/serving/card.py): a card read and written again is the same
JSON, older and newer cards load, and the published schema describes what training writes."""

from __future__ import annotations

import json

import jsonschema
import pytest

from pipeline.serving import artifact
from pipeline.serving.card import OUTPUT_MODELS, ModelCard


def test_a_trained_card_round_trips_to_the_same_json(trained):
    on_disk = (trained.model.path / artifact.CARD_FILE).read_text()
    card = ModelCard.model_validate_json(on_disk)
    assert json.dumps(card.to_dict(), indent=2) + "\n" == on_disk
    assert card.evaluation.random_split.risk_bands[0].from_ == 0.0
    assert card.limitations[1].injected_purchases is not None


def test_the_schema_describes_a_trained_card(trained):
    schema = ModelCard.model_json_schema()
    jsonschema.validate(trained.model.card, schema)
    assert (ModelCard,) == OUTPUT_MODELS
    assert {"evaluation", "limitations", "risk_thresholds"} <= set(schema["properties"])


@pytest.mark.parametrize(
    "card",
    [
        {},
        {"model_id": "abandonment-test00000005", "engine": "local"},
        {"engine": "bqml", "evaluation": {"random_split": {"train_rows": 3}}, "future": [1, 2]},
    ],
    ids=["empty", "minimal", "unknown-keys"],
)
def test_older_and_newer_cards_keep_exactly_what_they_hold(card):
    assert ModelCard.model_validate(card).to_dict() == card
