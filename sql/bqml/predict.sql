-- Score every cart session into a gold table: P(abandoned) for each session_id.
create or replace table `{{ predictions_table }}` as
with predictions as (
    select *
    from ml.predict(
        model `{{ model }}`,
        (
            with training_set as (
{{ training_query }}
            )

            select
                session_id,
                {{ features }}
            from training_set
        )
    )
)

select
    session_id,
    {{ features }},
    (
        select p.prob
        from unnest(predicted_{{ label }}_probs) as p
        where cast(p.label as string) = '1'
    ) as abandonment_probability
from predictions
