-- The calibrated moment model on the test month: the booster's margin, through the Platt
-- model of moment_calibrate.sql, against the label (ML.EVALUATE's ROC-AUC, log-loss, ...).
with training_set as (
{{ training_query }}
),

predictions as (
    select *
    from ml.predict(
        model `{{ model }}`,
        (
            select {{ features }}, {{ label }}
            from training_set
            where split_part = 'test'
        )
    )
),

margins as (
    select
        {{ label }},
        (
            select p.prob
            from unnest(predicted_{{ label }}_probs) as p
            where cast(p.label as string) = '1'
        ) as probability
    from predictions
)

select *
from ml.evaluate(
    model `{{ calibration_model }}`,
    (
        select
            ln(greatest(probability, 1e-12) / greatest(1 - probability, 1e-12)) as margin,
            {{ label }}
        from margins
    )
)
