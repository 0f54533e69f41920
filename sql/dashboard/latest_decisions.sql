{#
    Each experiment's latest readout in gold.experiment_results (its newest data, then its
    newest write): the decision, the data's last instant and the primary metric's relative
    lift. The dashboard's experiment selector shows them without recomputing anything.
    Rendered by streamlit_app.data.experiments.latest_decisions_sql (table:
    gold.experiment_results).
#}
{% from "results/latest_runs.sql" import latest_runs %}
with {{ latest_runs(table) }}

select
    results.experiment_key,
    results.decision,
    results.data_through,
    results.relative_estimate as lift
from {{ table }} as results
inner join latest_runs
    on results.experiment_key = latest_runs.experiment_key
    and results.run_id = latest_runs.run_id
where latest_runs.newest_first = 1
    and results.family = 'primary'
order by results.experiment_key
