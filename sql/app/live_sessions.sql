{#
    Sessions the Predictor's live mode can replay: the most recent {{ per_outcome }} with a
    prediction point of each outcome (abandoned or bought), {{ min_events }} to {{ max_events }}
    events long, with what the moment model knows of the shopper (the history features are the same
    at every point of a session). Rendered by streamlit_app.data.live.sessions_sql
    (moments: gold.fct_cart_moments; sessions: gold.fact_user_sessions).
#}
with sessions_with_a_point as (
    select
        session_id,
        any_value(user_id) as user_id,
        any_value(experiment_group) as experiment_group,
        any_value(abandoned) as abandoned,
        any_value(prior_sessions) as prior_sessions,
        any_value(prior_purchasing_sessions) as prior_purchasing_sessions,
        any_value(prior_abandonment_rate) as prior_abandonment_rate,
        any_value(days_since_previous_session) as days_since_previous_session,
        any_value(prior_revenue) as prior_revenue
    from {{ moments }}
    group by session_id
),

described as (
    select
        p.*,
        s.session_number,
        s.session_start,
        s.event_count,
        s.total_purchases
    from sessions_with_a_point as p
    inner join {{ sessions }} as s on p.session_id = s.session_id
    where s.event_count between {{ min_events }} and {{ max_events }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by abandoned order by session_start desc, session_id
        ) as recency
    from described
)

select
    session_id,
    user_id,
    session_number,
    experiment_group,
    session_start,
    event_count,
    abandoned,
    prior_sessions,
    prior_purchasing_sessions,
    prior_abandonment_rate,
    days_since_previous_session,
    prior_revenue
from ranked
where recency <= {{ per_outcome }}
order by session_start desc, session_id
