-- Silver events: strict types, UTC timestamps, only events that belong to a known user and
-- session (the data contract: no null user, no null session), and each exact duplicate (same time,
-- raw event type, product, user, session and price) once.
-- The raw files repeat about 5% of their rows verbatim (double-fired tracking); counting them
-- would inflate views, carts and revenue, so silver keeps the first copy by source position.
-- Copies are matched on the raw event, `original_event_type`, not on `event_type` after the
-- uplift injection: an injected purchase (a raw cart) and a real purchase of the same product
-- at the same instant are two events, and keying on `event_type` collapsed them into one,
-- sometimes keeping the injected one and dropping the organic purchase.

{{ config(**staged_by_day('event_time')) }}
{{ check_rebuild_window() }}

with source as (

    -- Copies share their event_time, so a day's rows are de-duplicated from that day alone.
    select * from {{ source('bronze', 'events') }}
    {%- if rebuilding() %}
    where event_time >= {{ window_start() }}
    {%- endif %}

),

typed as (

    -- Ingestion already parsed every field (bad rows are quarantined there, and the bronze
    -- source tests check the categories): these casts pin the types, they do not clean text,
    -- which keeps the view cheap (no per-row string functions over ~20M rows).
    select
        {{ utc_timestamp('event_time') }} as event_time,
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        cast(product_id as {{ type_int64() }}) as product_id,
        cast(category_id as {{ type_int64() }}) as category_id,
        nullif(cast(category_code as {{ dbt.type_string() }}), '') as category_code,
        nullif(cast(brand as {{ dbt.type_string() }}), '') as brand,
        cast(price as {{ type_double() }}) as price,
        cast(user_id as {{ type_int64() }}) as user_id,
        nullif(cast(user_session as {{ dbt.type_string() }}), '') as user_session,
        cast(experiment_group as {{ dbt.type_string() }}) as experiment_group,
        cast(original_event_type as {{ dbt.type_string() }}) as original_event_type,
        cast(is_injected as {{ type_bool() }}) as is_injected,
        cast(source_file as {{ dbt.type_string() }}) as source_file,
        cast(source_line as {{ type_int64() }}) as source_line
    from source

),

known_users_and_sessions as (

    -- user_id is a BIGINT in bronze (ingestion quarantines non-numeric ids), so an 'unknown'
    -- user cannot reach here: a null user is the only unknown one. The session rule adds the
    -- tracker's 'unknown' placeholder to null and '' (made null above): it names no session,
    -- the same as a missing one. The real samples hold none; the filter costs one comparison.
    select *
    from typed
    where
        event_time is not null
        and user_id is not null
        and user_session is not null
        and user_session != 'unknown'

),

ranked_copies as (

    -- BigQuery refuses a FLOAT64 in a window's `partition by` ("Partitioning by expressions
    -- of type FLOAT64 is not allowed"), so price is not a partition key: within the other key
    -- columns rows are ordered by price, then source position, and a row is a copy when the
    -- row before it has the same price. Exact (no rounding or text form of the float), one
    -- sort, the same on both engines.
    select
        *,
        row_number() over event_copies as position_in_key,
        lag(price) over event_copies as previous_price
    from known_users_and_sessions
    window event_copies as (
        partition by event_time, original_event_type, product_id, user_id, user_session
        order by price, source_file, source_line
    )

),

deduplicated as (

    select * from ranked_copies
    where position_in_key = 1 or previous_price is distinct from price

)

select
    event_time,
    {{ utc_date('event_time') }} as event_date,
    event_type,
    product_id,
    category_id,
    category_code,
    brand,
    price,
    user_id,
    user_session,
    experiment_group,
    original_event_type,
    is_injected,
    source_file,
    source_line
from deduplicated
