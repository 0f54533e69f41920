-- The moment model's rows: one per session and prediction point, with only what was known at
-- the point. A point is the session's first add-to-cart (a raw cart event, whether or not the
-- new checkout turned it into a purchase), or a later point configured in `moment_points`:
-- `after_events` events after the first cart (the point is that event), or `after_minutes`
-- minutes after it (the point is that instant; it exists only while the session is still
-- open, within the session timeout of its last event so far). Sessions that purchased before
-- the point have no row: there is nothing left to save.
-- Events known at the point are counted by their raw type (original_event_type): the point
-- event is the shopper's add-to-cart; whether the checkout converted it is the outcome.
-- A rebuild writes the rows of the sessions that start in the window: their events are all
-- there, the user's earlier sessions come from fact_user_sessions, and the purchases a label
-- looks for (up to `purchase_label_hours` after the point) are later still. The runner starts
-- the window that long before the new data, so no earlier row's label can change.

{{ config(**incremental_by_day('session_start')) }}
{{ check_rebuild_window() }}

{%- set timeout_microseconds = var('session_timeout_minutes') | int * 60 * 1000000 %}
{%- set day_microseconds = 86400000000 %}
{%- set label_microseconds = var('purchase_label_hours') | int * 3600 * 1000000 %}

with session_events as (

    select * from {{ ref('int_session_events') }}
    {%- if rebuilding() %}
    where event_time >= {{ window_start() }}
    {%- endif %}

),

sessions as (

    -- Every session of the users in question: the history features look at all earlier ones.
    select * from {{ ref('fact_user_sessions') }}
    {%- if rebuilding() %}
    where user_id in (select user_id from session_events)
    {%- endif %}

),

rebuilt_sessions as (

    -- The sessions whose rows are written (on a rebuild: those that start in the window; one
    -- that started before and runs into it keeps its rows).
    select session_id, user_id, session_number, experiment_group, session_start, session_month
    from {{ ref('fact_user_sessions') }}
    {%- if rebuilding() %}
    where session_start >= {{ window_start() }}
    {%- endif %}

),

first_carts as (

    select
        user_id,
        session_number,
        min(position_in_session) as first_cart_position
    from session_events
    where original_event_type = 'cart'
    group by user_id, session_number

),

first_cart_events as (

    select
        first_carts.user_id,
        first_carts.session_number,
        first_carts.first_cart_position,
        session_events.event_time_us as first_cart_at_us
    from first_carts
    inner join session_events
        on first_carts.user_id = session_events.user_id
        and first_carts.session_number = session_events.session_number
        and first_carts.first_cart_position = session_events.position_in_session

),

event_points as (

    -- Points reached by counting events: the point is the event at that position.
    {%- set event_points = [] %}
    {%- for point in var('moment_points') if point.get('after_events') is not none %}
        {%- do event_points.append(point) %}
    {%- endfor %}
    {%- for point in event_points %}
    select
        first_cart_events.user_id,
        first_cart_events.session_number,
        '{{ point.name }}' as prediction_point,
        session_events.event_time_us as point_at_us,
        session_events.position_in_session as last_known_position,
        session_events.position_in_session - 1 as gap_reference_position,
        session_events.original_event_type = 'purchase' as point_is_purchase
    from first_cart_events
    inner join session_events
        on first_cart_events.user_id = session_events.user_id
        and first_cart_events.session_number = session_events.session_number
        and session_events.position_in_session
            = first_cart_events.first_cart_position + {{ point.after_events | int }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

time_point_candidates as (

    -- Points reached by the clock: the events known are those at or before the instant.
    {%- set time_points = [] %}
    {%- for point in var('moment_points') if point.get('after_minutes') is not none %}
        {%- do time_points.append(point) %}
    {%- endfor %}
    {%- for point in time_points %}
    select
        user_id,
        session_number,
        '{{ point.name }}' as prediction_point,
        first_cart_at_us + {{ (point.after_minutes * 60000000) | int }} as point_at_us
    from first_cart_events
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

time_points as (

    select
        candidates.user_id,
        candidates.session_number,
        candidates.prediction_point,
        candidates.point_at_us,
        max(session_events.position_in_session) as last_known_position,
        max(session_events.position_in_session) as gap_reference_position,
        max(session_events.event_time_us) as last_known_at_us,
        false as point_is_purchase
    from time_point_candidates as candidates
    inner join session_events
        on candidates.user_id = session_events.user_id
        and candidates.session_number = session_events.session_number
        and session_events.event_time_us <= candidates.point_at_us
    group by
        candidates.user_id,
        candidates.session_number,
        candidates.prediction_point,
        candidates.point_at_us

),

prediction_points as (

    select
        user_id, session_number, prediction_point, point_at_us,
        last_known_position, gap_reference_position, point_is_purchase
    from event_points
    union all
    select
        user_id, session_number, prediction_point, point_at_us,
        last_known_position, gap_reference_position, point_is_purchase
    from time_points
    -- the session is still open at the instant (no timeout has passed since its last event)
    where point_at_us - last_known_at_us <= {{ timeout_microseconds }}

),

carted_items as (

    -- The item of the latest add-to-cart known at the point: found among the session's carts
    -- (few rows), so the known events below are joined once, already carrying its price.
    select user_id, session_number, prediction_point, price as cart_price
    from (
        select
            prediction_points.user_id,
            prediction_points.session_number,
            prediction_points.prediction_point,
            session_events.price,
            row_number() over (
                partition by
                    prediction_points.user_id,
                    prediction_points.session_number,
                    prediction_points.prediction_point
                order by session_events.position_in_session desc
            ) as recency
        from prediction_points
        inner join session_events
            on prediction_points.user_id = session_events.user_id
            and prediction_points.session_number = session_events.session_number
            and session_events.position_in_session <= prediction_points.last_known_position
        where session_events.original_event_type = 'cart'
    ) as carts
    where recency = 1

),

points_with_cart_price as (

    select prediction_points.*, carted_items.cart_price
    from prediction_points
    inner join carted_items
        on prediction_points.user_id = carted_items.user_id
        and prediction_points.session_number = carted_items.session_number
        and prediction_points.prediction_point = carted_items.prediction_point

),

known_with_cart_price as (

    -- Every event known at the point: the session so far, nothing after it.
    select
        points_with_cart_price.*,
        session_events.position_in_session,
        session_events.event_time_us,
        session_events.event_type,
        session_events.original_event_type,
        session_events.product_id,
        session_events.category_id,
        session_events.brand,
        session_events.price
    from points_with_cart_price
    inner join session_events
        on points_with_cart_price.user_id = session_events.user_id
        and points_with_cart_price.session_number = session_events.session_number
        and session_events.position_in_session <= points_with_cart_price.last_known_position

),

session_so_far as (

    select
        user_id,
        session_number,
        prediction_point,
        min(point_at_us) as point_at_us,
        -- a purchase before the point (the point event's own conversion is the outcome)
        max(case
            when event_type = 'purchase' and position_in_session < gap_reference_position + 1
                then 1
            when event_type = 'purchase' and original_event_type = 'purchase' then 1
            else 0
        end) as has_purchased,
        cast(sum(case when original_event_type = 'view' then 1 else 0 end)
            as {{ type_int64() }}) as views_so_far,
        cast(sum(case when original_event_type = 'cart' then 1 else 0 end)
            as {{ type_int64() }}) as carts_so_far,
        cast(sum(case when original_event_type = 'remove_from_cart' then 1 else 0 end)
            as {{ type_int64() }}) as removes_so_far,
        cast(count(distinct case when original_event_type = 'view' then product_id end)
            as {{ type_int64() }}) as distinct_products_viewed,
        cast(count(distinct case when original_event_type = 'view' then brand end)
            as {{ type_int64() }}) as distinct_brands_viewed,
        cast(count(distinct case when original_event_type = 'view' then category_id end)
            as {{ type_int64() }}) as distinct_categories_viewed,
        min(event_time_us) as session_start_us,
        max(case when position_in_session = gap_reference_position then event_time_us end)
            as gap_reference_at_us,
        min(cart_price) as cart_price,
        cast(sum(case when original_event_type = 'view' and price < cart_price then 1 else 0 end)
            as {{ type_int64() }}) as views_cheaper_than_cart
    from known_with_cart_price
    group by user_id, session_number, prediction_point

),

user_history as (

    -- What the user's earlier sessions showed, known before this session started.
    select
        user_id,
        session_number,
        total_purchases,
        cast(count(*) over earlier_sessions as {{ type_int64() }}) as prior_sessions,
        cast(coalesce(sum(case when total_purchases > 0 then 1 else 0 end)
            over earlier_sessions, 0) as {{ type_int64() }}) as prior_purchasing_sessions,
        cast(sum(case when total_carts > 0 and total_purchases = 0 then 1 else 0 end)
            over earlier_sessions as {{ type_double() }})
            / nullif(sum(case when total_carts > 0 then 1 else 0 end) over earlier_sessions, 0)
            as prior_abandonment_rate,
        ({{ epoch_microseconds('session_start') }} - lag({{ epoch_microseconds('session_end') }})
            over (partition by user_id order by session_start))
            / {{ day_microseconds }}.0 as days_since_previous_session,
        cast(coalesce(sum(revenue) over earlier_sessions, 0) as {{ type_double() }})
            as prior_revenue
    from sessions
    window earlier_sessions as (
        partition by user_id
        order by session_start
        rows between unbounded preceding and 1 preceding
    )

),

purchases as (

    select user_id, event_time_us as purchased_at_us
    from session_events
    where event_type = 'purchase'

),

points_with_next_day as (

    select
        session_so_far.user_id,
        session_so_far.session_number,
        session_so_far.prediction_point,
        max(case when purchases.purchased_at_us is not null then 1 else 0 end)
            as purchased_within_24h
    from session_so_far
    left join purchases
        on session_so_far.user_id = purchases.user_id
        and purchases.purchased_at_us >= session_so_far.point_at_us
        and purchases.purchased_at_us <= session_so_far.point_at_us + {{ label_microseconds }}
    where session_so_far.has_purchased = 0
    group by session_so_far.user_id, session_so_far.session_number, session_so_far.prediction_point

)

select
    rebuilt_sessions.session_id,
    session_so_far.prediction_point,
    session_so_far.user_id,
    rebuilt_sessions.experiment_group,
    rebuilt_sessions.session_start,
    rebuilt_sessions.session_month,
    {{ timestamp_from_epoch_microseconds('session_so_far.point_at_us') }} as point_at,
    session_so_far.views_so_far,
    session_so_far.carts_so_far,
    session_so_far.removes_so_far,
    session_so_far.distinct_products_viewed,
    session_so_far.distinct_brands_viewed,
    session_so_far.distinct_categories_viewed,
    (session_so_far.point_at_us - session_so_far.session_start_us) / 1000000.0
        as seconds_since_session_start,
    (session_so_far.point_at_us - session_so_far.gap_reference_at_us) / 1000000.0
        as seconds_since_last_event,
    session_so_far.cart_price,
    case when session_so_far.views_so_far > 0
        then session_so_far.views_cheaper_than_cart / cast(session_so_far.views_so_far as {{ type_double() }})
    end as cart_price_rank,
    cast(mod(cast(floor(session_so_far.point_at_us / 3600000000.0) as {{ type_int64() }}), 24)
        as {{ type_int64() }}) as hour_utc,
    cast(mod(cast(floor(session_so_far.point_at_us / {{ day_microseconds }}.0) as {{ type_int64() }}) + 3, 7) + 1
        as {{ type_int64() }}) as weekday_utc,
    user_history.prior_sessions,
    user_history.prior_purchasing_sessions,
    user_history.prior_abandonment_rate,
    user_history.days_since_previous_session,
    user_history.prior_revenue,
    user_history.total_purchases = 0 as abandoned,
    points_with_next_day.purchased_within_24h = 1 as purchased_within_24h
from session_so_far
inner join points_with_next_day
    on session_so_far.user_id = points_with_next_day.user_id
    and session_so_far.session_number = points_with_next_day.session_number
    and session_so_far.prediction_point = points_with_next_day.prediction_point
inner join user_history
    on session_so_far.user_id = user_history.user_id
    and session_so_far.session_number = user_history.session_number
inner join rebuilt_sessions
    on session_so_far.user_id = rebuilt_sessions.user_id
    and session_so_far.session_number = rebuilt_sessions.session_number
