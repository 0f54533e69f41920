-- One row per (prediction point, model): the moment model's calibrated probability that the
-- session ends without a purchase, computed in the warehouse by the model `ecom score --family
-- moment` ran with (macros/scoring/score_cart_moments.sql). Incremental: a score run replaces
-- that model's rows and keeps the rows of models scored earlier (model_scores_config), so
-- re-runs never duplicate and scores of different models stay side by side.

{{ config(**model_scores_config(['session_id', 'prediction_point'], moment_model_var('model_id'))) }}

{{ score_cart_moments(ref('fct_cart_moments')) }}
