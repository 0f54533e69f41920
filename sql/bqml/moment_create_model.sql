-- The moment model in BigQuery ML, with the local run's options and its time split.
-- Rendered by pipeline/model/moment/bqml.py: the options come from pipeline.model.train's
-- TRAIN_PARAMS, the rows from sql/model/moment_training_set.sql (the same months as
-- `ecom train --family moment`): trained on the months before the calibration month, which is
-- the CUSTOM split's evaluation set (early stopping is off, so it only reports); the test
-- month is left out, for moment_evaluate.sql.
create or replace model `{{ model }}`
options (
{{ options }}
) as
with training_set as (
{{ training_query }}
)

select
    {{ features }},
    {{ label }},
    split_part = 'calibration' as {{ split_column }}
from training_set
where split_part in ('train', 'calibration')
