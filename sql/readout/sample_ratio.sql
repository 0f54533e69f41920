{#
    All users per group by UTC day of entry and by each segment dimension (entry month, new or
    returning): the sample ratio checks below the whole population, each slice's split against
    50/50. Days and segments are known when a user enters, so a broken split there is a broken
    assignment or logging, not an effect. Rendered by pipeline.abtest.queries.sample_ratio_sql
    (table, where: as group_totals.sql).
#}
with users as (
    select
        experiment_group,
        cast({{ utc_date("entered_at") }} as string) as entry_day,
        entry_month,
        case when is_returning then 'returning' else 'new' end as user_type
    from {{ table }}
{% if where %}
    where {{ where }}
{% endif %}
),

slices as (
    select 'day' as dimension, entry_day as segment, experiment_group from users
    union all
    select 'entry_month' as dimension, entry_month as segment, experiment_group from users
    union all
    select 'user_type' as dimension, user_type as segment, experiment_group from users
)

select
    dimension,
    segment,
    experiment_group,
    cast(count(*) as {{ type_int64() }}) as users
from slices
group by dimension, segment, experiment_group
order by dimension, segment, experiment_group
