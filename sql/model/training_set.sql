{#
    The training set: contract features (encoded), the label as 0/1, ids, time columns and the
    split flag, for the cart sessions of the training window. Rendered by
    pipeline.model.dataset.training_query, and inside sql/bqml/create_model.sql, so BigQuery ML
    and local training hold out the same sessions: within each label, sessions ordered by the
    MD5 of "<seed>|<session_id>", the first 1 in `eval_every` is the evaluation set.

    table             gold.fct_cart_sessions
    seed              the split's seed (an integer)
    through           None for every month, or the last month of the window ('YYYY-MM')
    encoded_features  the contract's features as select items (experiment_group encoded)
    features, label, split_column, eval_every: from pipeline.serving.features and pipeline.model.dataset
#}
with cart_sessions as (
    select * from {{ table }}
    {% if through %}
    where session_month <= '{{ through }}'
    {% endif %}
),

encoded as (
    select
        session_id,
        user_id,
        session_start,
        session_month,
        {{ encoded_features | join(",\n        ") }},
        cast({{ label }} as {{ type_int64() }}) as {{ label }},
        {{ md5_hex("concat('" ~ seed ~ "|', session_id)") }} as split_key
    from cart_sessions
),

ranked as (
    select
        *,
        row_number() over (partition by {{ label }} order by split_key) as split_rank,
        count(*) over (partition by {{ label }}) as class_rows
    from encoded
)

select
    session_id,
    user_id,
    session_start,
    session_month,
    {{ features | join(", ") }},
    {{ label }},
    split_rank * {{ eval_every }} <= class_rows as {{ split_column }}
from ranked
