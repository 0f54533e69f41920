"""The file names of a model version folder (pipeline.serving.artifact reads it).

Apart from the loader so that what only finds folders (the registry's pointer, the API's
supervisor) can name them without importing xgboost.
"""

MODEL_NAME = "abandonment"
BOOSTER_FILE = "model.bst"
METADATA_FILE = "assets/model_metadata.json"
CARD_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "model_card.md"
REFERENCE_FILE = "reference_sample.csv"
