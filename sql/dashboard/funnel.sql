{#
    Per group: users who viewed, carted and bought; sessions with a view, a cart, a purchase.
    Rendered by streamlit_app.data.queries.funnel_sql.

    table  gold.fct_experiment_users
    where  an optional predicate on its columns (the dashboard's filters)
#}
select
    experiment_group,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(case when total_views > 0 then 1 else 0 end) as {{ type_int64() }}) as viewers,
    cast(sum(case when is_exposed then 1 else 0 end) as {{ type_int64() }}) as carters,
    cast(sum(case when converted then 1 else 0 end) as {{ type_int64() }}) as buyers,
    cast(sum(total_sessions) as {{ type_int64() }}) as sessions,
    cast(sum(viewed_sessions) as {{ type_int64() }}) as viewed_sessions,
    cast(sum(cart_sessions) as {{ type_int64() }}) as cart_sessions,
    cast(sum(total_orders) as {{ type_int64() }}) as purchase_sessions
from {{ table }}
{% if where %}
where ({{ where }})
{% endif %}
group by experiment_group
order by experiment_group
