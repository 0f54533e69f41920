"""The scoring service: `python -m api` runs its supervisor (api.supervisor), whose uvicorn
workers build the FastAPI app (`api.main:create_app`, one router per resource).

Imports nothing of the batch stack (dbt, DuckDB, Polars, Evidently, Streamlit, Google Cloud):
the model as served (feature contract, artifact loader, registry, card, risk bands, trees)
comes from `pipeline.serving`, shared with the trainer.
"""
