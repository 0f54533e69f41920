-- One row per user, rolled up from their sessions. Recency is measured against the last day
-- in the data, not today, so the same data always builds the same table.

-- Partitioned by last_seen_at: the users a rebuild can change (dbt_project.yml says why).
{{
    config(
        partition_by=partition_by_day('last_seen_at'),
        cluster_by=cluster_by_user(),
        meta={'window_column': 'last_seen_at'},
    )
}}

with sessions as (

    select * from {{ ref('fact_user_sessions') }}

),

data_window as (

    select max(session_end) as last_event_at
    from sessions

),

users as (

    select
        user_id,
        min(experiment_group) as experiment_group,
        min(session_start) as first_seen_at,
        max(session_end) as last_seen_at,
        min(first_purchase_at) as first_purchase_at,
        cast(count(*) as {{ type_int64() }}) as total_sessions,
        cast(sum(total_purchases) as {{ type_int64() }}) as total_purchases,
        cast(sum(total_injected_purchases) as {{ type_int64() }})
            as total_injected_purchases,
        cast(sum(revenue) as {{ type_double() }}) as lifetime_value
    from sessions
    group by user_id

)

select
    users.user_id,
    users.experiment_group,
    users.first_seen_at,
    users.last_seen_at,
    users.first_purchase_at,
    {{ utc_month('users.first_seen_at') }} as first_month,
    users.total_sessions,
    users.total_purchases,
    users.total_injected_purchases,
    users.lifetime_value,
    users.total_purchases > 0 as converted,
    users.total_purchases - users.total_injected_purchases > 0 as converted_without_injection,
    cast(
        {{ dbt.datediff(utc_date('users.last_seen_at'), utc_date('data_window.last_event_at'), 'day') }}
        as {{ type_int64() }}
    ) as days_since_last_session
from users
cross join data_window
