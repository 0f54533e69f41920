-- One row per session: the events of int_session_events (where each user's sessions are
-- numbered) rolled up by session. A rebuild reads the window's events and rolls up the
-- sessions whose first event is among them, the ones that start in the window; a session
-- that started earlier and runs into the window is unchanged (the runner starts the window
-- before any session the new data could touch) and is neither read whole nor replaced.

{{ config(**incremental_by_day('session_start')) }}
{{ check_rebuild_window() }}

with numbered_events as (

    select * from {{ ref('int_session_events') }}
    {%- if rebuilding() %}
    where event_time >= {{ window_start() }}
    {%- endif %}

),

sessions as (

    select
        user_id,
        cast(session_number as {{ type_int64() }}) as session_number,
        min(experiment_group) as experiment_group,
        min(event_time) as session_start,
        max(event_time) as session_end,
        min(case when event_type = 'purchase' then event_time end) as first_purchase_at,
        cast(sum(case when event_type = 'view' then 1 else 0 end) as {{ type_int64() }})
            as total_views,
        -- Raw cart events: a cart the redesigned checkout turned into a purchase was still a
        -- cart (counting after the injection would empty exactly Treatment's converted carts).
        cast(sum(case when original_event_type = 'cart' then 1 else 0 end)
            as {{ type_int64() }}) as total_carts,
        cast(sum(case when event_type = 'remove_from_cart' then 1 else 0 end)
            as {{ type_int64() }}) as total_removes,
        cast(sum(case when event_type = 'purchase' then 1 else 0 end) as {{ type_int64() }})
            as total_purchases,
        cast(sum(case when event_type = 'purchase' and is_injected then 1 else 0 end)
            as {{ type_int64() }}) as total_injected_purchases,
        cast(coalesce(sum(case when event_type = 'purchase' then price end), 0)
            as {{ type_double() }}) as revenue,
        -- What the shopper put in the cart (raw cart events, injected ones included): the
        -- dashboard's price band of the carted items is cart_value / total_carts.
        cast(coalesce(sum(case when original_event_type = 'cart' then price end), 0)
            as {{ type_double() }}) as cart_value,
        cast(count(*) as {{ type_int64() }}) as event_count
    from numbered_events
    group by user_id, session_number
    {%- if rebuilding() %}
    having min(position_in_session) = 1
    {%- endif %}

)

-- The id hashes the user and the session's first instant, not its number: ingesting an earlier
-- month or a late event renumbers a user's later sessions but leaves their ids (and the scores
-- joined on them) unchanged.
select
    {{ md5_hex(dbt.concat([
        "cast(user_id as " ~ dbt.type_string() ~ ")",
        "'-'",
        "cast(" ~ epoch_microseconds('session_start') ~ " as " ~ dbt.type_string() ~ ")",
    ])) }} as session_id,
    user_id,
    experiment_group,
    session_number,
    session_start,
    session_end,
    {{ utc_month('session_start') }} as session_month,
    cast(
        ({{ epoch_microseconds('session_end') }} - {{ epoch_microseconds('session_start') }})
        / 60000000.0 as {{ type_double() }}
    ) as session_duration_minutes,
    total_views,
    total_carts,
    total_removes,
    total_purchases,
    total_injected_purchases,
    revenue,
    cart_value,
    event_count,
    first_purchase_at
from sessions
