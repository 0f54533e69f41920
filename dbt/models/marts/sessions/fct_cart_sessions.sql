-- The abandonment model's training set: sessions that put something in the cart (a raw cart
-- event, injected or not), labelled by whether they ended without a purchase.

{{ config(**incremental_by_day('session_start')) }}
{{ check_rebuild_window() }}

with sessions as (

    select * from {{ ref('fact_user_sessions') }}
    {%- if rebuilding() %}
    where session_start >= {{ window_start() }}
    {%- endif %}

),

cart_sessions as (

    -- total_carts counts raw cart events, so a Treatment session whose only cart the new
    -- checkout converted is a cart session, and a converted one (abandoned_cart = false).
    select *
    from sessions
    where total_carts >= 1

)

select
    session_id,
    user_id,
    experiment_group,
    session_start,
    session_month,
    total_views,
    total_carts,
    session_duration_minutes,
    total_purchases = 0 as abandoned_cart
from cart_sessions
