-- Metrics on the held-out sessions (the rows create_model.sql flagged for evaluation).
select *
from ml.evaluate(
    model `{{ model }}`,
    (
        with training_set as (
{{ training_query }}
        )

        select
            {{ features }},
            {{ label }}
        from training_set
        where {{ split_column }}
    )
)
