"""The scoring service: FastAPI app factory (`api.main:create_app`), one router per resource.

Imports nothing of the batch stack (dbt, DuckDB, Polars, Evidently, Streamlit, Google Cloud):
the feature contract, the artifact loader, the registry and the risk bands are light modules
of `pipeline.model`, shared with the trainer.
"""
