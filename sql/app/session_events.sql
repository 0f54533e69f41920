{#
    One session's events in the warehouse's order, with the type the shopper produced
    (original_event_type, what a live tracker sends) and the one the pipeline recorded
    (event_type: an injected purchase is the redesigned checkout converting a cart). Rendered
    by streamlit_app.data.live.events_sql (events: silver.int_session_events).
#}
select
    position_in_session,
    event_time_us,
    original_event_type,
    event_type,
    product_id,
    category_id,
    brand,
    price
from {{ events }}
where user_id = {{ user_id }} and session_number = {{ session_number }}
order by position_in_session
