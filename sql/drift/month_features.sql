{#
    A model family's contract features (experiment_group encoded) of the rows of some months,
    in a stable order: a drift slice. Rendered by pipeline.drift.data (its View says which).

    table             gold.fct_cart_sessions (session family) or gold.fct_cart_moments (moment)
    months            the months ('YYYY-MM', checked by pipeline.settings.month_key)
    encoded_features  pipeline.drift.data.View.encoded_features()
    order_by          the table's key: session_id (, prediction_point)
#}
select {{ encoded_features | join(", ") }}
from {{ table }}
where session_month in ('{{ months | join("', '") }}')
order by {{ order_by }}
