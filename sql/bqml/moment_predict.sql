-- Every prediction point of the split scored into a gold table: the booster's margin through
-- the Platt model, i.e. the calibrated P(abandoned), per (session_id, prediction_point).
create or replace table `{{ predictions_table }}` as
with training_set as (
{{ training_query }}
),

booster as (
    select *
    from ml.predict(
        model `{{ model }}`,
        (
            select session_id, prediction_point, {{ features }}
            from training_set
        )
    )
),

margins as (
    select
        session_id,
        prediction_point,
        ln(greatest(p, 1e-12) / greatest(1 - p, 1e-12)) as margin
    from (
        select
            session_id,
            prediction_point,
            (
                select c.prob
                from unnest(predicted_{{ label }}_probs) as c
                where cast(c.label as string) = '1'
            ) as p
        from booster
    )
),

calibrated as (
    select *
    from ml.predict(model `{{ calibration_model }}`, (select * from margins))
)

select
    session_id,
    prediction_point,
    (
        select c.prob
        from unnest(predicted_{{ label }}_probs) as c
        where cast(c.label as string) = '1'
    ) as abandonment_probability
from calibrated
