{#
    Every experiment that shipped last quarter, and its lift: the analyst's question over
    gold.experiment_results, in SQL both engines run (docs/how-to/add-an-experiment.md shows
    it). "Shipped last quarter": the experiment's latest readout (its newest data, then its
    newest write) decided ship, on data through a day of the calendar quarter before today's.
    The lift is the primary metric's relative lift with its interval. Rendered by
    pipeline.abtest.results.shipped_last_quarter_sql (table; today: a date literal, or
    current_date).
#}
{% from "results/latest_runs.sql" import latest_runs %}
with {{ latest_runs(table) }},

quarters as (
    select
        extract(year from {{ today }}) * 4 + extract(quarter from {{ today }}) - 1
            as last_quarter
)

select
    results.experiment_key,
    results.experiment_name,
    results.data_through,
    results.relative_estimate as lift,
    results.relative_ci_lower as lift_lower,
    results.relative_ci_upper as lift_upper,
    results.estimate as absolute_lift,
    results.p_value,
    results.run_id
from {{ table }} as results
inner join latest_runs
    on results.experiment_key = latest_runs.experiment_key
    and results.run_id = latest_runs.run_id
cross join quarters
where latest_runs.newest_first = 1
    and results.family = 'primary'
    and results.decision = 'ship'
    and extract(year from results.data_through) * 4 + extract(quarter from results.data_through)
        = quarters.last_quarter
order by results.data_through desc
