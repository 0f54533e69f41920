{#
    Users who would not have bought without the injection (no purchase in the raw data), by
    their raw cart events in the experiment period, both groups together: the injection turns
    each such user into a buyer with probability 1 - (1 - rate)^carts, so these counts give the
    injected effect over the whole sample (pipeline.abtest.truth). Rendered by
    pipeline.abtest.queries.injectable_carts_sql (table, where: as group_totals.sql).
#}
select
    total_carts as carts,
    cast(count(*) as {{ type_int64() }}) as users
from {{ table }}
where not converted_without_injection
    and total_carts > 0
{% if where %}
    and ({{ where }})
{% endif %}
group by total_carts
order by total_carts
