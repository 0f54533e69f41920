-- Every silver event with the session it belongs to, rebuilt from events alone: within a
-- user's time-ordered events, a gap of more than `session_timeout_minutes` starts a new
-- session (a gap of exactly the timeout does not). Gaps are compared in epoch microseconds,
-- so the boundary is exact on both engines. Events with equal timestamps are ordered by
-- source file and line, so numbering and positions are deterministic.

{{
    config(
        materialized='table',
        partition_by=partition_by_date('event_date'),
        cluster_by=cluster_by_user(),
    )
}}

{%- set timeout_microseconds = var('session_timeout_minutes') | int * 60 * 1000000 %}

with events as (

    select
        *,
        {{ epoch_microseconds('event_time') }} as event_time_us
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

session_boundaries as (

    select
        *,
        case
            when previous_event_time_us is null then 1
            when event_time_us - previous_event_time_us > {{ timeout_microseconds }} then 1
            else 0
        end as is_session_start
    from events_with_previous

),

numbered_sessions as (

    select
        *,
        cast(sum(is_session_start) over (
            partition by user_id
            order by event_time, source_file, source_line
            rows between unbounded preceding and current row
        ) as {{ type_int64() }}) as session_number
    from session_boundaries

)

select
    user_id,
    session_number,
    cast(row_number() over (
        partition by user_id, session_number
        order by event_time, source_file, source_line
    ) as {{ type_int64() }}) as position_in_session,
    event_time,
    event_time_us,
    event_date,
    event_type,
    original_event_type,
    is_injected,
    product_id,
    category_id,
    brand,
    price,
    experiment_group,
    source_file,
    source_line
from numbered_sessions
