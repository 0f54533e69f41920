-- Every silver event with the session it belongs to: the user's sessions numbered 1, 2, ... in
-- time order from the boundaries of int_session_boundaries, and the event's position in its
-- session. A rebuild numbers the window's events on from where the rows before the window
-- left each user (those rows are unchanged: an event's session depends on earlier events
-- only): the user's sessions so far, and the position reached by a session still open when
-- the window starts.

{{ config(**incremental_by_day('event_time')) }}
{{ check_rebuild_window() }}

{%- set timeout_minutes = var('session_timeout_minutes') | int %}

with boundaries as (

    select * from {{ ref('int_session_boundaries') }}

),

sessions_before as (

    -- Each user's sessions before the window (none on a full build).
    {%- if rebuilding() %}
    select user_id, max(session_number) as session_count
    from {{ this }}
    where event_time < {{ window_start() }}
    group by user_id
    {%- else %}
    select
        cast(null as {{ type_int64() }}) as user_id,
        cast(null as {{ type_int64() }}) as session_count
    limit 0
    {%- endif %}

),

open_sessions as (

    -- Sessions with an event within the timeout before the window: the window's first event
    -- may continue one, after the position it reached.
    {%- if rebuilding() %}
    select user_id, session_number, max(position_in_session) as last_position
    from {{ this }}
    where
        event_time >= {{ window_start(minutes_before=timeout_minutes) }}
        and event_time < {{ window_start() }}
    group by user_id, session_number
    {%- else %}
    select
        cast(null as {{ type_int64() }}) as user_id,
        cast(null as {{ type_int64() }}) as session_number,
        cast(null as {{ type_int64() }}) as last_position
    limit 0
    {%- endif %}

),

numbered_sessions as (

    select
        boundaries.*,
        cast(coalesce(sessions_before.session_count, 0) + sum(boundaries.is_session_start) over (
            partition by boundaries.user_id
            order by boundaries.event_time, boundaries.source_file, boundaries.source_line
            rows between unbounded preceding and current row
        ) as {{ type_int64() }}) as session_number
    from boundaries
    left join sessions_before on boundaries.user_id = sessions_before.user_id

)

select
    numbered_sessions.user_id,
    numbered_sessions.session_number,
    cast(coalesce(open_sessions.last_position, 0) + row_number() over (
        partition by numbered_sessions.user_id, numbered_sessions.session_number
        order by
            numbered_sessions.event_time,
            numbered_sessions.source_file,
            numbered_sessions.source_line
    ) as {{ type_int64() }}) as position_in_session,
    numbered_sessions.event_time,
    numbered_sessions.event_time_us,
    numbered_sessions.event_date,
    numbered_sessions.event_type,
    numbered_sessions.original_event_type,
    numbered_sessions.is_injected,
    numbered_sessions.product_id,
    numbered_sessions.category_id,
    numbered_sessions.brand,
    numbered_sessions.price,
    numbered_sessions.experiment_group,
    numbered_sessions.source_file,
    numbered_sessions.source_line
from numbered_sessions
left join open_sessions
    on numbered_sessions.user_id = open_sessions.user_id
    and numbered_sessions.session_number = open_sessions.session_number
