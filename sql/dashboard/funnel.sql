{#
    Per group, a funnel whose every step is a subset of the one before: users in the
    experiment, those who reached the cart (the primary population) and, of those, who bought
    (the primary metric's converters, so the last step's share is the Conversion tile).
    Rendered by streamlit_app.data.queries.funnel_sql.

    table  gold.fct_experiment_users
    where  an optional predicate on its columns (the dashboard's filters)
#}
with users as (
    select
        experiment_group,
        case when is_exposed then 1 else 0 end as reached_cart,
        case when is_exposed and converted then 1 else 0 end as bought
    from {{ table }}
    {% if where %}
    where ({{ where }})
    {% endif %}
)

select
    experiment_group,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(reached_cart) as {{ type_int64() }}) as reached_cart,
    cast(sum(bought) as {{ type_int64() }}) as bought
from users
group by experiment_group
order by experiment_group
