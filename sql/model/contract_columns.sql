{#
    No rows, only a check: the columns scoring reads exist in the table (a missing one fails
    with the engine's error, which pipeline.model.gold turns into the fix). Rendered by
    pipeline.model.gold.require_cart_sessions.

    table    gold.fct_cart_sessions
    columns  the id columns, the contract's features and the label
#}
select {{ columns | join(", ") }} from {{ table }} limit 0
