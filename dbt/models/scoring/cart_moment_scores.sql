{{ config(materialized='table') }}

-- One row per (prediction point, model): the moment model's calibrated probability that the
-- session ends without a purchase, computed in the warehouse by the model `ecom score --family
-- moment` ran with (macros/scoring/score_cart_moments.sql), beside the rows of models scored
-- earlier. Re-scoring with a model replaces that model's rows in one atomic table build.
with scored as (
    {{ score_cart_moments(ref('fct_cart_moments')) }}
),

earlier_models as (
    {{ earlier_model_scores(moment_model_var('model_id'), cart_moment_score_columns()) }}
)

select * from scored
union all
select * from earlier_models
