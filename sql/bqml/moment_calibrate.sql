-- Platt scaling of the moment booster, as the local run fits it: an unpenalized logistic
-- regression of the label on the booster's margin (log-odds), over the calibration month.
-- Its weight and intercept are calibration.json's slope and intercept.
create or replace model `{{ calibration_model }}`
options (
    model_type = 'LOGISTIC_REG',
    input_label_cols = ['{{ label }}'],
    l1_reg = 0,
    l2_reg = 0,
    data_split_method = 'NO_SPLIT'
) as
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
            where split_part = 'calibration'
        )
    )
),

probabilities as (
    select
        {{ label }},
        (
            select p.prob
            from unnest(predicted_{{ label }}_probs) as p
            where cast(p.label as string) = '1'
        ) as probability
    from predictions
)

select
    ln(greatest(probability, 1e-12) / greatest(1 - probability, 1e-12)) as margin,
    {{ label }}
from probabilities
