-- One row per (cart session, model), scored in the warehouse by the model `ecom score` ran
-- with (macros/scoring/ says how on each engine). Incremental: a score run replaces that
-- model's rows and keeps the rows of models scored earlier (model_scores_config), so re-runs
-- never duplicate and scores of different models stay side by side. Built by `ecom score`.

{{ config(**model_scores_config(['session_id'], abandonment_model_var('model_id'))) }}

{{ score_cart_sessions(ref('fct_cart_sessions')) }}
