{#
    Per population ("all", "exposed") and group: users, conversions (with and without the
    injected purchases), and the sums, sums of squares and cross products of every metric and
    covariate: the sufficient statistics of pipeline.stats. Rendered by
    pipeline.abtest.queries.totals_sql.

    table         gold.fct_experiment_users (one row per user in the experiment)
    where         an optional predicate on its columns (the dashboard's filters)
    winsorize_at  None, or the percentile of users with non-zero revenue (both groups pooled)
                  at which per-user revenue is capped
#}
{% macro count_where(condition) %}cast(sum(case when {{ condition }} then 1 else 0 end) as {{ type_int64() }}){% endmacro %}
with users as (
    select
        experiment_group,
        is_exposed,
        is_returning,
        case when converted then 1 else 0 end as converted,
        case when converted_without_injection then 1 else 0 end as converted_without_injection,
        case when pre_converted then 1 else 0 end as pre_converted,
        cast(revenue as {{ type_double() }}) as revenue,
        cast(pre_revenue as {{ type_double() }}) as pre_revenue,
        cast(total_orders as {{ type_double() }}) as orders,
        cast(total_purchases as {{ type_double() }}) as items,
        cast(total_sessions as {{ type_double() }}) as sessions,
        cast(pre_sessions as {{ type_double() }}) as pre_sessions,
        cast(total_removes as {{ type_double() }}) as removes,
        cast(total_carts as {{ type_double() }}) as carts
    from {{ table }}
{% if where %}
    where {{ where }}
{% endif %}
),

{% if winsorize_at is none %}
revenue_cap as (
    select cast(null as {{ type_double() }}) as cap, cast(0 as {{ type_int64() }}) as cap_units
),
{% else %}
revenue_cap_value as (
    {{ percentile("revenue", winsorize_at, "(select revenue from users where revenue != 0) as buyers", alias="cap") }}
),

revenue_cap as (
    select
        revenue_cap_value.cap,
        (select {{ count_where("revenue != 0") }} from users) as cap_units
    from revenue_cap_value
),
{% endif %}

users_capped as (
    select
        users.*,
        case
            when revenue_cap.cap is null then revenue
            when revenue > revenue_cap.cap then revenue_cap.cap
            else revenue
        end as capped_revenue
    from users
    cross join revenue_cap
),

populations as (
    select 'all' as population, users_capped.* from users_capped
    union all
    select 'exposed' as population, users_capped.* from users_capped where is_exposed
)

select
    population,
    experiment_group,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(converted) as {{ type_int64() }}) as converters,
    cast(sum(converted_without_injection) as {{ type_int64() }}) as converters_without_injection,
    cast(sum(pre_converted) as {{ type_int64() }}) as pre_converters,
    cast(sum(converted * pre_converted) as {{ type_int64() }}) as converted_pre_converted,
    {{ count_where("is_returning") }} as returning_users,
    sum(revenue) as revenue_sum,
    sum(revenue * revenue) as revenue_sum_squares,
    sum(pre_revenue) as pre_revenue_sum,
    sum(pre_revenue * pre_revenue) as pre_revenue_sum_squares,
    sum(revenue * pre_revenue) as revenue_pre_revenue_sum,
    sum(capped_revenue) as capped_revenue_sum,
    sum(capped_revenue * capped_revenue) as capped_revenue_sum_squares,
    sum(orders) as orders_sum,
    sum(orders * orders) as orders_sum_squares,
    sum(revenue * orders) as revenue_orders_sum,
    sum(items) as items_sum,
    sum(items * items) as items_sum_squares,
    sum(revenue * items) as revenue_items_sum,
    sum(sessions) as sessions_sum,
    sum(sessions * sessions) as sessions_sum_squares,
    sum(pre_sessions) as pre_sessions_sum,
    sum(pre_sessions * pre_sessions) as pre_sessions_sum_squares,
    sum(sessions * pre_sessions) as sessions_pre_sessions_sum,
    sum(removes) as removes_sum,
    sum(removes * removes) as removes_sum_squares,
    sum(carts) as carts_sum,
    sum(carts * carts) as carts_sum_squares,
    sum(removes * carts) as removes_carts_sum,
    max(revenue_cap.cap) as revenue_cap,
    max(revenue_cap.cap_units) as cap_units
from populations
cross join revenue_cap
group by population, experiment_group
order by population, experiment_group
