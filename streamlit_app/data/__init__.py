"""What the Streamlit app shows, computed without Streamlit.

The app's other modules (app.py, tabs/, charts, resources) hold UI only; everything they query
or compute lives here, in plain modules that never import streamlit, so tests call them directly
(tests/app/data/):

  filters      the dashboard's sidebar filters and the price bands, as data (and as URL)
  queries      SQL aggregates on the gold layer (engine-neutral through warehouse.dialect)
  metrics      those aggregates -> KPIs, verdict, funnel, lift (maths: pipeline.stats)
  segments     the segment table in the readout's one family of tests
  evidence     guardrails, sample ratio, chance to beat Control, power, in words
  formats      numbers and names for people ("< 0.001", "1,234", "Nov 2019", "–")
  downloads    CSV downloads named and headed with their filters and the data's end
  freshness    "data as of" from the ingestion manifests
  monitoring   the current model (registry) and the latest drift summary (C6)
  api_client   the scoring API (C4), the only way the app reaches the model
  bulk         checks an uploaded CSV before it goes to /bulk_predict
"""
