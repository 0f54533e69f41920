{#
    Users who reached the cart, per group and UTC day of their first cart (days since
    1970-01-01): users and converters, the daily effect by trigger day. Rendered by
    streamlit_app.data.queries.daily_sql (table, where: as funnel.sql).
#}
with exposed as (
    select
        experiment_group,
        {{ epoch_day("first_cart_session_at") }} as first_cart_day,
        case when converted then 1 else 0 end as converted
    from {{ table }}
    where is_exposed
    {% if where %}
        and ({{ where }})
    {% endif %}
)

select
    experiment_group,
    first_cart_day,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(converted) as {{ type_int64() }}) as converters
from exposed
group by experiment_group, first_cart_day
order by experiment_group, first_cart_day
