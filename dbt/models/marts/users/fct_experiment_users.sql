-- The experiment readout's table: one row per user in the experiment, with the experiment
-- period's metrics, the pre-period's (the CUPED covariates) and the cart trigger.
-- A session belongs to the experiment period when it ends on or after the start day (so it
-- holds at least one event that the injection could touch), to the pre-period otherwise: the
-- pre-period therefore holds no injected purchase. The start day is the var
-- `experiment_start` (ECOM_EXPERIMENT_START), or the data's first day when it is null.

{{
    config(
        cluster_by=cluster_by_user(),
    )
}}

{%- set experiment_start = var('experiment_start', none) %}

with sessions as (

    select * from {{ ref('fact_user_sessions') }}

),

experiment_window as (

    -- one row: the configured start day, or the data's first day
    {% if experiment_start -%}
    select cast('{{ experiment_start }}' as date) as experiment_start
    {%- else -%}
    select min({{ utc_date('session_start') }}) as experiment_start
    from sessions
    {%- endif %}

),

sessions_by_period as (

    select
        sessions.*,
        experiment_window.experiment_start,
        {{ utc_date('sessions.session_end') }} >= experiment_window.experiment_start as is_experiment
    from sessions
    cross join experiment_window

),

users as (

    select
        user_id,
        min(experiment_group) as experiment_group,
        min(experiment_start) as experiment_start,
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
    group by user_id

),

experiment_users as (

    select *
    from users
    where total_sessions > 0

),

first_carts as (

    -- What the first cart session carted: the dashboard's price band, known at the trigger
    -- (a user's sessions never start at the same instant, so this is one row per user).
    select
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
    left join first_carts on experiment_users.user_id = first_carts.user_id

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
    user_id,
    experiment_group,
    experiment_start,
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
