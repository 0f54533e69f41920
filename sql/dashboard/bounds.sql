{#
    The entry months and days (since 1970-01-01) the experiment covers: the filters' choices and
    limits. Rendered by streamlit_app.data.queries.bounds_sql (table: gold.fct_experiment_users;
    where: the selected experiment).
#}
select
    entry_month,
    min({{ epoch_day("entered_at") }}) as first_day,
    max({{ epoch_day("entered_at") }}) as last_day,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(case when is_returning then 1 else 0 end) as {{ type_int64() }}) as returning_users
from {{ table }}
{% if where %}
where {{ where }}
{% endif %}
group by entry_month
order by entry_month
