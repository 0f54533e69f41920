-- Per-session feature attributions from BigQuery ML, kept beside the predictions.
create or replace table `{{ explanations_table }}` as
select *
from ml.explain_predict(
    model `{{ model }}`,
    (
        with training_set as (
{{ training_query }}
        )

        select
            session_id,
            {{ features }}
        from training_set
    ),
    struct({{ n_features }} as top_k_features)
)
