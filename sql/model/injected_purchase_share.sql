{#
    Purchased cart sessions, and those that bought only through injected events (the
    experiment's simulated uplift), overall and in Treatment, up to month `through`: what makes
    experiment_group look predictive. Rendered by pipeline.model.gold.injected_purchase_share.

    table    gold.fact_user_sessions
    through  None for every month, or the last month ('YYYY-MM')
#}
{% set only_injected = "total_injected_purchases = total_purchases" %}
{% set treatment = "lower(experiment_group) = 'treatment'" %}
with purchased_cart_sessions as (
    select * from {{ table }}
    where total_carts >= 1 and total_purchases > 0
    {% if through %}
        and session_month <= '{{ through }}'
    {% endif %}
)

select
    cast(count(*) as {{ type_int64() }}) as purchased_sessions,
    cast(coalesce(sum(case when {{ only_injected }} then 1 else 0 end), 0) as {{ type_int64() }})
        as injected_only_sessions,
    cast(coalesce(sum(case when {{ treatment }} then 1 else 0 end), 0) as {{ type_int64() }})
        as treatment_purchased_sessions,
    cast(coalesce(sum(case when {{ treatment }} and {{ only_injected }} then 1 else 0 end), 0)
        as {{ type_int64() }}) as treatment_injected_only_sessions
from purchased_cart_sessions
