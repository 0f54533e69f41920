{#
    How one model's scores did against what the sessions then did, per slice: sessions, carts
    abandoned, the mean predicted probability beside the observed rate (calibration in the
    large), the Brier score and the ROC-AUC (the Mann-Whitney statistic: the share of
    (abandoned, bought) pairs the model ranks in that order, a tie counting a half). Rendered
    by streamlit_app.data.realized.

    scores    gold.cart_session_scores (session_id, abandonment_probability, model_id)
    sessions  gold.fct_cart_sessions (session_id, abandoned_cart, and the slice's columns)
    model_id  the model whose rows are read (checked by the caller: letters, digits, - _ .)
    slice     a SQL expression naming each row's slice (a week, a group, a band, a bin)
    after     optional 'YYYY-MM': only sessions of later months (after the training window)
#}
with scored as (
    select
        {{ slice }} as slice,
        scores.abandonment_probability as predicted,
        case when sessions.abandoned_cart then 1 else 0 end as abandoned
    from {{ scores }} as scores
    inner join {{ sessions }} as sessions
        on scores.session_id = sessions.session_id
    where scores.model_id = '{{ model_id }}'
    {% if after %}
        and sessions.session_month > '{{ after }}'
    {% endif %}
),

by_score as (
    -- one row per slice and distinct score: the abandoned and bought sessions scored so
    select
        slice,
        predicted,
        sum(abandoned) as positives,
        count(*) - sum(abandoned) as negatives
    from scored
    group by slice, predicted
),

with_lower_negatives as (
    -- the bought sessions each score outranks: those scored strictly lower, in its slice
    select
        slice,
        positives,
        negatives,
        coalesce(
            sum(negatives) over (
                partition by slice
                order by predicted
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as negatives_below
    from by_score
),

pairs as (
    select
        slice,
        sum(
            cast(positives as {{ type_double() }})
            * (negatives_below + 0.5 * negatives)
        ) as concordant_pairs,
        cast(sum(positives) as {{ type_double() }})
        * cast(sum(negatives) as {{ type_double() }}) as all_pairs
    from with_lower_negatives
    group by slice
),

totals as (
    select
        slice,
        cast(count(*) as {{ type_int64() }}) as sessions,
        cast(sum(abandoned) as {{ type_int64() }}) as abandoned,
        avg(predicted) as mean_predicted,
        avg(cast(abandoned as {{ type_double() }})) as observed_rate,
        avg((predicted - abandoned) * (predicted - abandoned)) as brier
    from scored
    group by slice
)

select
    totals.slice,
    totals.sessions,
    totals.abandoned,
    totals.mean_predicted,
    totals.observed_rate,
    totals.brier,
    case
        when pairs.all_pairs > 0 then pairs.concordant_pairs / pairs.all_pairs
    end as roc_auc
from totals
inner join pairs on totals.slice = pairs.slice
order by totals.slice
