-- The experiment readout's table: one row per experiment (var `experiments`, from
-- experiments.yml) and user in it, with the experiment period's metrics, the pre-period's (the
-- CUPED covariates and the balance checks) and the cart trigger.
-- A session belongs to an experiment's period when it ends on or after the start day (so it
-- holds at least one event the injection could touch) and starts on or before the end day; to
-- the pre-period when it ends before the start day (the pre-period therefore holds no
-- injected purchase). A null start is the data's first day, a null end an open experiment.
-- Groups: the injected experiment's are bronze's experiment_group (ingestion assigned them);
-- every other experiment's are assigned here by the same rule on the MD5 of salt || user id.
-- The test matches_md5_assignment recomputes both.

-- Partitioned by last_seen_at: the users a rebuild can change (dbt_project.yml says why).
{{
    config(
        partition_by=partition_by_day('last_seen_at'),
        cluster_by=cluster_by_user(),
        meta={'window_column': 'last_seen_at'},
    )
}}

{%- set experiments = var('experiments') %}

with sessions as (

    select * from {{ ref('fact_user_sessions') }}

),

data_window as (

    -- one row: the data's first day, the start of an experiment without one
    select min({{ utc_date('session_start') }}) as first_day
    from sessions

),

experiments as (

    -- one row per experiment of the var
    {% for experiment in experiments %}
    select
        '{{ experiment.key }}' as experiment_key,
        '{{ experiment.salt }}' as assignment_salt,
        {% if experiment.start -%}
        cast('{{ experiment.start }}' as date)
        {%- else -%}
        data_window.first_day
        {%- endif %} as experiment_start,
        {% if experiment.end -%}
        cast('{{ experiment.end }}' as date)
        {%- else -%}
        cast(null as date)
        {%- endif %} as experiment_end,
        {{ 'true' if experiment.from_ingestion else 'false' }} as is_assigned_at_ingestion
    from data_window
    {% if not loop.last %}
    union all
    {% endif %}
    {% endfor %}

),

sessions_by_period as (

    select
        sessions.*,
        experiments.experiment_key,
        experiments.assignment_salt,
        experiments.experiment_start,
        experiments.experiment_end,
        experiments.is_assigned_at_ingestion,
        {{ utc_date('sessions.session_end') }} >= experiments.experiment_start as is_experiment
    from sessions
    cross join experiments
    where experiments.experiment_end is null
        or {{ utc_date('sessions.session_start') }} <= experiments.experiment_end

),

users as (

    select
        experiment_key,
        user_id,
        min(experiment_group) as ingested_group,
        min(assignment_salt) as assignment_salt,
        min(experiment_start) as experiment_start,
        min(experiment_end) as experiment_end,
        {{ dbt.bool_or('is_assigned_at_ingestion') }} as is_assigned_at_ingestion,
        min(case when is_experiment then session_start end) as entered_at,
        max(case when is_experiment then session_end end) as last_seen_at,
        min(case when is_experiment and total_carts > 0 then session_start end)
            as first_cart_session_at,
        min(case when is_experiment then first_purchase_at end) as first_purchase_at,
        sum(case when is_experiment then 1 else 0 end) as total_sessions,
        -- the dashboard's funnel: views, and sessions with a view / a raw cart
        sum(case when is_experiment then total_views else 0 end) as total_views,
        sum(case when is_experiment and total_views > 0 then 1 else 0 end) as viewed_sessions,
        sum(case when is_experiment and total_carts > 0 then 1 else 0 end) as cart_sessions,
        sum(case when is_experiment then total_carts else 0 end) as total_carts,
        sum(case when is_experiment then total_removes else 0 end) as total_removes,
        sum(case when is_experiment then total_purchases else 0 end) as total_purchases,
        sum(case when is_experiment then total_injected_purchases else 0 end)
            as total_injected_purchases,
        sum(case when is_experiment and total_purchases > 0 then 1 else 0 end) as total_orders,
        sum(case when is_experiment then revenue else 0 end) as revenue,
        sum(case when is_experiment then 0 else 1 end) as pre_sessions,
        sum(case when is_experiment then 0 else total_carts end) as pre_carts,
        sum(case when is_experiment then 0 else total_purchases end) as pre_purchases,
        sum(case when not is_experiment and total_purchases > 0 then 1 else 0 end) as pre_orders,
        sum(case when is_experiment then 0 else revenue end) as pre_revenue
    from sessions_by_period
    group by experiment_key, user_id

),

experiment_users as (

    -- users with a session in the period, with their group in this experiment
    select
        users.*,
        case
            when is_assigned_at_ingestion then ingested_group
            else {{ assigned_group('assignment_salt', 'user_id') }}
        end as experiment_group
    from users
    where total_sessions > 0

),

first_carts as (

    -- What the first cart session carted: the dashboard's price band, known at the trigger
    -- (a user's sessions never start at the same instant, so this is one row per user).
    select
        experiment_users.experiment_key,
        experiment_users.user_id,
        sessions.cart_value as first_cart_value,
        sessions.total_carts as first_cart_items
    from experiment_users
    inner join sessions
        on sessions.user_id = experiment_users.user_id
        and sessions.session_start = experiment_users.first_cart_session_at

),

users_with_first_cart as (

    select
        experiment_users.*,
        first_carts.first_cart_value,
        first_carts.first_cart_items
    from experiment_users
    left join first_carts
        on experiment_users.experiment_key = first_carts.experiment_key
        and experiment_users.user_id = first_carts.user_id

),

user_weeks as (

    -- Weeks since the start day; a session that began the evening before counts in week 0.
    select
        *,
        {{ dbt.datediff('experiment_start', utc_date('entered_at'), 'day') }} as entered_day,
        {{ dbt.datediff('experiment_start', utc_date('first_cart_session_at'), 'day') }}
            as first_cart_day,
        {{ dbt.datediff('experiment_start', utc_date('first_purchase_at'), 'day') }}
            as first_purchase_day
    from users_with_first_cart

)

select
    experiment_key,
    user_id,
    experiment_group,
    experiment_start,
    experiment_end,
    entered_at,
    last_seen_at,
    first_cart_session_at,
    first_purchase_at,
    {{ utc_month('entered_at') }} as entry_month,
    cast(case when entered_day < 0 then 0 else floor(entered_day / 7.0) end
        as {{ type_int64() }}) as entry_week,
    cast(case when first_cart_day < 0 then 0 else floor(first_cart_day / 7.0) end
        as {{ type_int64() }}) as first_cart_week,
    cast(case when first_purchase_day < 0 then 0 else floor(first_purchase_day / 7.0) end
        as {{ type_int64() }}) as first_purchase_week,
    pre_sessions > 0 as is_returning,
    total_carts > 0 as is_exposed,
    total_purchases > 0 as converted,
    total_purchases - total_injected_purchases > 0 as converted_without_injection,
    cast(total_sessions as {{ type_int64() }}) as total_sessions,
    cast(total_views as {{ type_int64() }}) as total_views,
    cast(viewed_sessions as {{ type_int64() }}) as viewed_sessions,
    cast(cart_sessions as {{ type_int64() }}) as cart_sessions,
    cast(first_cart_value as {{ type_double() }}) as first_cart_value,
    cast(first_cart_items as {{ type_int64() }}) as first_cart_items,
    cast(total_carts as {{ type_int64() }}) as total_carts,
    cast(total_removes as {{ type_int64() }}) as total_removes,
    cast(total_purchases as {{ type_int64() }}) as total_purchases,
    cast(total_injected_purchases as {{ type_int64() }}) as total_injected_purchases,
    cast(total_orders as {{ type_int64() }}) as total_orders,
    cast(revenue as {{ type_double() }}) as revenue,
    cast(pre_sessions as {{ type_int64() }}) as pre_sessions,
    cast(pre_carts as {{ type_int64() }}) as pre_carts,
    cast(pre_purchases as {{ type_int64() }}) as pre_purchases,
    cast(pre_orders as {{ type_int64() }}) as pre_orders,
    pre_purchases > 0 as pre_converted,
    cast(pre_revenue as {{ type_double() }}) as pre_revenue
from user_weeks
