-- The abandonment model's training set: sessions that put something in the cart (a raw cart
-- event, injected or not), labelled by whether they ended without a purchase.

{{
    config(
        partition_by=partition_by_day('session_start'),
        cluster_by=cluster_by_user(),
    )
}}

with sessions as (

    select * from {{ ref('fact_user_sessions') }}

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
