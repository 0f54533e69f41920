{#
    The primary population by (group, week of the first cart, week converted), weeks counted
    from the experiment's start day. A user counts at look w once their first cart session falls
    in week w or earlier, and as converted once their first purchase does too (a purchase before
    the first cart counts from the cart's week). Rendered by pipeline.abtest.queries.weekly_sql
    (table, where: as group_totals.sql).
#}
with exposed as (
    select experiment_group, first_cart_week, first_purchase_week
    from {{ table }}
    where is_exposed
    {% if where %}
        and ({{ where }})
    {% endif %}
),

exposed_weeks as (
    select
        experiment_group,
        first_cart_week as week_seen,
        case
            when first_purchase_week is null then null
            when first_purchase_week < first_cart_week then first_cart_week
            else first_purchase_week
        end as week_converted
    from exposed
)

select
    experiment_group,
    week_seen,
    week_converted,
    cast(count(*) as {{ type_int64() }}) as users
from exposed_weeks
group by experiment_group, week_seen, week_converted
order by experiment_group, week_seen, week_converted
