{#
    Primary-population users and converters per segment and group. Segments use only what is
    known when a user enters the experiment: the month of entry, and whether they were seen
    before the start day (returning) or not (new). Rendered by
    pipeline.abtest.queries.segments_sql (table, where: as group_totals.sql).
#}
with exposed as (
    select
        experiment_group,
        entry_month,
        is_returning,
        case when converted then 1 else 0 end as converted
    from {{ table }}
    where is_exposed
    {% if where %}
        and ({{ where }})
    {% endif %}
),

segment_units as (
    select 'entry_month' as dimension, entry_month as segment, experiment_group, converted
    from exposed
    union all
    select
        'user_type' as dimension,
        case when is_returning then 'returning' else 'new' end as segment,
        experiment_group,
        converted
    from exposed
)

select
    dimension,
    segment,
    experiment_group,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(converted) as {{ type_int64() }}) as converters
from segment_units
group by dimension, segment, experiment_group
order by dimension, segment, experiment_group
