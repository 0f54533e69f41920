{{ config(materialized='table') }}

-- One row per (cart session, model), scored in the warehouse by the model `ecom score` ran
-- with (macros/scoring/ says how on each engine), beside the rows of models scored earlier.
-- Re-scoring with a model replaces that model's rows in one atomic table build, so re-runs never
-- duplicate and scores of different models stay side by side. Built by `ecom score`.
with scored as (
    {{ score_cart_sessions(ref('fct_cart_sessions')) }}
),

earlier_models as (
    {{ earlier_model_scores(abandonment_model_var('model_id')) }}
)

select * from scored
union all
select * from earlier_models
