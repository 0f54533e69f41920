-- The abandonment classifier in BigQuery ML, with the local run's parameters.
-- Rendered by pipeline/model/bqml.py: the options come from pipeline.model.train.TRAIN_PARAMS,
-- the training set (features from the contract, the seeded stratified split) from
-- pipeline.model.dataset.training_query, so both engines hold out the same sessions.
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
    {{ split_column }}
from training_set
