{#
    The moment model's rows for its time split: the contract's features (experiment_group
    encoded), both labels as 0/1, ids, the prediction point, and which part of the split the
    row's month is in (train, calibration, test); beside them the seed's whole-session totals of
    the same session (for the ablation only: they are known once the session has ended).
    Rendered by pipeline.model.moment.data.training_query, and inside
    sql/bqml/moment_create_model.sql, so both engines split the same rows.

    moments            gold.fct_cart_moments
    sessions           gold.fct_cart_sessions
    encoded_features   the moment contract's features as select items (experiment_group encoded)
    session_features   the session contract's features, encoded, as whole-session columns
    train_before       the calibration month ('YYYY-MM'): earlier months train
    calibration_month  'YYYY-MM'
    test_month         'YYYY-MM'
    label, label_24h   the two labels
#}
with moments as (
    select * from {{ moments }}
    where session_month <= '{{ test_month }}'
),

whole_sessions as (
    select
        session_id,
        {{ session_features | join(",\n        ") }}
    from {{ sessions }}
),

encoded as (
    select
        moments.session_id,
        moments.prediction_point,
        moments.user_id,
        moments.session_month,
        {{ encoded_features | join(",\n        ") }},
        cast(moments.{{ label }} as {{ type_int64() }}) as {{ label }},
        cast(moments.{{ label_24h }} as {{ type_int64() }}) as {{ label_24h }},
        case
            when moments.session_month < '{{ train_before }}' then 'train'
            when moments.session_month = '{{ calibration_month }}' then 'calibration'
            when moments.session_month = '{{ test_month }}' then 'test'
        end as split_part,
        {{ whole_session_columns | join(",\n        ") }}
    from moments
    left join whole_sessions
        on moments.session_id = whole_sessions.session_id
)

select *
from encoded
where split_part is not null
order by session_id, prediction_point
