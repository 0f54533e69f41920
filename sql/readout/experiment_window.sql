{#
    The experiment's first day as the warehouse built it, the data's last instant, and the
    users. Rendered by pipeline.abtest.queries.window_sql (table, where: as group_totals.sql).
#}
select
    min(experiment_start) as experiment_start,
    max(last_seen_at) as last_seen_at,
    cast(count(*) as {{ type_int64() }}) as users
from {{ table }}
{% if where %}
where {{ where }}
{% endif %}
