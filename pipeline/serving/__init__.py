"""The model as served: what the API needs to load, explain and band a model version, and what
the trainer and the SQL compiler share with it, without the batch stack.

features.py is the feature contract, artifact.py the model folder's loader, registry.py the
versions and the current pointer, card.py the model card's data, risk.py the risk bands and
trees.py the one reading of a booster's trees (the split rule, the margin, the sigmoid).
Nothing here imports pipeline.model, the warehouse, ingestion or their libraries: import-linter
keeps it so (pyproject.toml, `make lint`).
"""
