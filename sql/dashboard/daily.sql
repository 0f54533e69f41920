{#
    Users who reached the cart, per group and UTC day of their first cart (days since
    1970-01-01): users, those who bought within `window_days` days of that first cart (a
    purchase before it counts as at once), and the follow-up the day's cohort has had: days
    from its latest first cart to the data's last event (over the whole table, filters or not).
    A cohort with less follow-up than the window has not had the time to buy: the page leaves
    it out. Rendered by streamlit_app.data.queries.daily_sql (table, where: as funnel.sql).
#}
with data_end as (
    select max({{ epoch_microseconds("last_seen_at") }}) as last_us
    from {{ table }}
),

exposed as (
    select
        experiment_group,
        {{ epoch_day("first_cart_session_at") }} as first_cart_day,
        {{ epoch_microseconds("first_cart_session_at") }} as first_cart_us,
        {{ epoch_microseconds("first_purchase_at") }} as first_purchase_us
    from {{ table }}
    where is_exposed
    {% if where %}
        and ({{ where }})
    {% endif %}
),

exposed_outcomes as (
    select
        exposed.experiment_group,
        exposed.first_cart_day,
        case
            when exposed.first_purchase_us is not null
                and exposed.first_purchase_us - exposed.first_cart_us < {{ window_days * 86400000000 }}
                then 1
            else 0
        end as bought_in_window,
        data_end.last_us - exposed.first_cart_us as follow_up_us
    from exposed
    cross join data_end
)

select
    experiment_group,
    first_cart_day,
    cast(count(*) as {{ type_int64() }}) as users,
    cast(sum(bought_in_window) as {{ type_int64() }}) as converters,
    cast(min(follow_up_us) as {{ type_double() }}) / 86400000000 as follow_up_days
from exposed_outcomes
group by experiment_group, first_cart_day
order by experiment_group, first_cart_day
