-- The A/B dashboard's table: per month and experiment group, and over the whole window
-- (session_month = 'all'). A session belongs to the month it starts in.

with sessions as (

    select * from {{ ref('fact_user_sessions') }}

),

sessions_by_period as (

    -- each session once under its month and once under 'all', so one aggregate serves both
    select session_month, experiment_group, user_id, total_purchases, total_injected_purchases, revenue
    from sessions
    union all
    select 'all' as session_month, experiment_group, user_id, total_purchases, total_injected_purchases, revenue
    from sessions

),

summarized as (

    select
        session_month,
        experiment_group,
        count(distinct user_id) as users,
        count(distinct case when total_purchases > 0 then user_id end) as converters,
        count(*) as sessions,
        sum(total_purchases) as purchases,
        sum(total_injected_purchases) as injected_purchases,
        sum(revenue) as revenue
    from sessions_by_period
    group by session_month, experiment_group

)

select
    cast(session_month as {{ dbt.type_string() }}) as session_month,
    experiment_group,
    cast(users as {{ type_int64() }}) as users,
    cast(converters as {{ type_int64() }}) as converters,
    cast(sessions as {{ type_int64() }}) as sessions,
    cast(purchases as {{ type_int64() }}) as purchases,
    cast(injected_purchases as {{ type_int64() }}) as injected_purchases,
    cast(revenue as {{ type_double() }}) as revenue
from summarized
