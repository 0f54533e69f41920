{#
    Cart sessions per month, oldest first: the months a drift report can compare. Rendered by
    pipeline.drift.data.available_months (table: gold.fct_cart_sessions).
#}
select session_month, count(*) as sessions
from {{ table }}
group by session_month
order by session_month
