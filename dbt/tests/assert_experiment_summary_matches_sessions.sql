-- The dashboard's totals reconcile with the sessions: per group, the monthly rows and the
-- 'all' row both add up to the sessions and purchases in fact_user_sessions.

with sessions as (

    select
        experiment_group,
        count(*) as sessions,
        sum(total_purchases) as purchases
    from {{ ref('fact_user_sessions') }}
    group by experiment_group

),

summary as (

    select
        experiment_group,
        sum(case when session_month != 'all' then sessions else 0 end) as monthly_sessions,
        sum(case when session_month = 'all' then sessions else 0 end) as all_sessions,
        sum(case when session_month != 'all' then purchases else 0 end) as monthly_purchases,
        sum(case when session_month = 'all' then purchases else 0 end) as all_purchases
    from {{ ref('experiment_summary') }}
    group by experiment_group

)

select
    sessions.experiment_group,
    sessions.sessions,
    summary.monthly_sessions,
    summary.all_sessions,
    sessions.purchases,
    summary.monthly_purchases,
    summary.all_purchases
from sessions
left join summary on sessions.experiment_group = summary.experiment_group
where
    summary.experiment_group is null
    or summary.monthly_sessions != sessions.sessions
    or summary.all_sessions != sessions.sessions
    or summary.monthly_purchases != sessions.purchases
    or summary.all_purchases != sessions.purchases
