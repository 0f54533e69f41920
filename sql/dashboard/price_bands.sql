{#
    Users who reached the cart per price band of their first cart and group, in the readout's
    segment shape (dimension, segment, group, users, converters). Rendered by
    streamlit_app.data.queries.bands_sql.

    table       gold.fct_experiment_users
    where       an optional predicate on its columns (the dashboard's filters)
    price_band  the SQL case giving a user's band key (streamlit_app.data.filters.band_sql)
#}
with exposed as (
    select
        experiment_group,
        {{ price_band }} as price_band,
        case when converted then 1 else 0 end as converted
    from {{ table }}
    where is_exposed
    {% if where %}
        and ({{ where }})
    {% endif %}
)

select
    'price_band' as dimension,
    price_band as segment,
    experiment_group,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(converted) as {{ type_int64() }}) as converters
from exposed
group by price_band, experiment_group
order by price_band, experiment_group
