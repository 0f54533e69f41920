-- The 30-minute rule, its one home: every silver event with the gap since the user's previous
-- event, flagged when it starts a session. Within a user's time-ordered events, a gap of more
-- than `session_timeout_minutes` starts a new session (a gap of exactly the timeout does not).
-- Gaps are compared in epoch microseconds, so the boundary is exact on both engines. Events
-- with equal timestamps are ordered by source file and line, so the flags are deterministic.
-- A rebuild reads its window plus the timeout before it: the previous event an event is
-- compared with is either in that lookback or more than the timeout away (a session start).

{{ config(materialized='ephemeral') }}

{%- set timeout_minutes = var('session_timeout_minutes') | int %}
{%- set timeout_microseconds = timeout_minutes * 60 * 1000000 %}

with events as (

    select
        *,
        {{ epoch_microseconds('event_time') }} as event_time_us
    from {{ ref('stg_events') }}
    {%- if rebuild_from() is not none %}
    where event_time >= {{ window_start(minutes_before=timeout_minutes) }}
    {%- endif %}

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

)

select *
from session_boundaries
{%- if rebuild_from() is not none %}
where event_time >= {{ window_start() }}
{%- endif %}
