{{ config(materialized='table') }}

-- Every cart session with its abandonment probability, scored in the warehouse:
-- DuckDB runs the trees compiled to SQL, BigQuery runs ML.PREDICT (macros/scoring/).
-- Built by `ecom score` after a model exists (tag: scoring).
with scored as (
    {{ score_cart_sessions(ref('fct_cart_sessions')) }}
)

select * from scored
