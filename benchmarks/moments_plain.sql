-- The baseline of benchmarks/bench_moments.py: gold.fct_cart_moments's rows computed by one
-- plain DuckDB query (no dbt, no macros: DuckDB's FILTER, arg_max, GROUP BY ALL), from the
-- same inputs (silver.int_session_events, gold.fact_user_sessions). The benchmark checks that
-- it returns exactly the model's rows before it compares their times. The points are the
-- default `moment_points` (dbt_project.yml); the timeout is 30 minutes.
create or replace table main.bench_moments_plain as
with events as (
    select
        user_id, session_number, position_in_session as pos, event_time_us as t,
        event_type, original_event_type as raw_type, product_id, category_id, brand, price
    from silver.int_session_events
),

first_carts as (
    select user_id, session_number, min(pos) as cart_pos, arg_min(t, pos) as cart_t
    from events
    where raw_type = 'cart'
    group by all
),

event_points as (
    select
        c.user_id, c.session_number, p.name as prediction_point, e.t as point_t,
        e.pos as last_pos, e.pos - 1 as gap_pos, e.raw_type = 'purchase' as point_is_purchase
    from first_carts c
    cross join (values ('first_cart', 0), ('cart_plus_3_events', 3)) as p(name, after)
    join events e
        on e.user_id = c.user_id and e.session_number = c.session_number
        and e.pos = c.cart_pos + p.after
),

time_points as (
    select
        c.user_id, c.session_number, 'cart_plus_10_minutes' as prediction_point,
        c.cart_t + 600000000 as point_t, max(e.pos) as last_pos, max(e.pos) as gap_pos,
        false as point_is_purchase
    from first_carts c
    join events e
        on e.user_id = c.user_id and e.session_number = c.session_number
        and e.t <= c.cart_t + 600000000
    group by all
    having c.cart_t + 600000000 - max(e.t) <= 1800000000
),

points as (
    select * from event_points
    union all
    select * from time_points
),

so_far as (
    select
        p.user_id, p.session_number, p.prediction_point,
        any_value(p.point_t) as point_t,
        bool_or(
            e.event_type = 'purchase'
            and (e.pos <= p.gap_pos or e.raw_type = 'purchase')
        ) as purchased_before,
        count(*) filter (where e.raw_type = 'view') as views,
        count(*) filter (where e.raw_type = 'cart') as carts,
        count(*) filter (where e.raw_type = 'remove_from_cart') as removes,
        count(distinct e.product_id) filter (where e.raw_type = 'view') as products,
        count(distinct e.brand) filter (where e.raw_type = 'view') as brands,
        count(distinct e.category_id) filter (where e.raw_type = 'view') as categories,
        min(e.t) as start_t,
        max(e.t) filter (where e.pos = p.gap_pos) as gap_t,
        arg_max(e.price, e.pos) filter (where e.raw_type = 'cart') as cart_price,
        list(e.price) filter (where e.raw_type = 'view') as view_prices
    from points p
    join events e
        on e.user_id = p.user_id and e.session_number = p.session_number and e.pos <= p.last_pos
    group by all
),

history as (
    select
        session_id, user_id, session_number, experiment_group, session_start, session_month,
        total_purchases,
        count(*) over earlier as prior_sessions,
        coalesce(count(*) filter (where total_purchases > 0) over earlier, 0)
            as prior_purchasing_sessions,
        count(*) filter (where total_carts > 0 and total_purchases = 0) over earlier
            / nullif(count(*) filter (where total_carts > 0) over earlier, 0)
            as prior_abandonment_rate,
        (epoch_us(session_start) - lag(epoch_us(session_end)) over (
            partition by user_id order by session_start
        )) / 86400000000.0 as days_since_previous_session,
        coalesce(sum(revenue) over earlier, 0)::double as prior_revenue
    from gold.fact_user_sessions
    window earlier as (
        partition by user_id order by session_start
        rows between unbounded preceding and 1 preceding
    )
)

select
    h.session_id,
    s.prediction_point,
    s.user_id,
    h.experiment_group,
    h.session_start,
    h.session_month,
    make_timestamptz(s.point_t) as point_at,
    s.views as views_so_far,
    s.carts as carts_so_far,
    s.removes as removes_so_far,
    s.products as distinct_products_viewed,
    s.brands as distinct_brands_viewed,
    s.categories as distinct_categories_viewed,
    (s.point_t - s.start_t) / 1000000.0 as seconds_since_session_start,
    (s.point_t - s.gap_t) / 1000000.0 as seconds_since_last_event,
    s.cart_price,
    case when s.views > 0
        then len(list_filter(s.view_prices, lambda x: x < s.cart_price)) / s.views
    end as cart_price_rank,
    (s.point_t // 3600000000) % 24 as hour_utc,
    (s.point_t // 86400000000 + 3) % 7 + 1 as weekday_utc,
    h.prior_sessions,
    h.prior_purchasing_sessions,
    h.prior_abandonment_rate,
    h.days_since_previous_session,
    h.prior_revenue,
    h.total_purchases = 0 as abandoned,
    exists (
        select 1 from events b
        where b.user_id = s.user_id and b.event_type = 'purchase'
            and b.t between s.point_t and s.point_t + 86400000000
    ) as purchased_within_24h
from so_far s
join history h on h.user_id = s.user_id and h.session_number = s.session_number
where not s.purchased_before
