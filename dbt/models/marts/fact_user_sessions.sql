-- Sessions rebuilt from events alone: within a user's time-ordered events, a gap of more than
-- `session_timeout_minutes` starts a new session (a gap of exactly the timeout does not).
-- Gaps are compared in epoch microseconds, so the boundary is exact on both engines.

{{
    config(
        partition_by=partition_by_day('session_start'),
        cluster_by=cluster_by_user(),
    )
}}

{%- set timeout_microseconds = var('session_timeout_minutes') | int * 60 * 1000000 %}

with events as (

    select
        user_id,
        experiment_group,
        event_time,
        {{ epoch_microseconds('event_time') }} as event_time_us,
        event_type,
        original_event_type,
        is_injected,
        price,
        source_file,
        source_line
    from {{ ref('stg_events') }}

),

events_with_previous as (

    select
        *,
        lag(event_time_us) over (
            partition by user_id
            order by event_time, source_file, source_line
        ) as previous_event_time_us
    from events

),

session_starts as (

    select
        *,
        case
            when previous_event_time_us is null then 1
            when event_time_us - previous_event_time_us > {{ timeout_microseconds }} then 1
            else 0
        end as is_session_start
    from events_with_previous

),

numbered_events as (

    select
        *,
        sum(is_session_start) over (
            partition by user_id
            order by event_time, source_file, source_line
            rows between unbounded preceding and current row
        ) as session_number
    from session_starts

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
