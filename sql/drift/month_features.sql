{#
    The contract's features (experiment_group encoded) of the cart sessions of some months, in
    session_id order: a drift slice. Rendered by pipeline.drift.data.

    table             gold.fct_cart_sessions
    months            the months ('YYYY-MM', checked by pipeline.settings.month_key)
    encoded_features  pipeline.model.dataset.encoded_features()
#}
select {{ encoded_features | join(", ") }}
from {{ table }}
where session_month in ('{{ months | join("', '") }}')
order by session_id
