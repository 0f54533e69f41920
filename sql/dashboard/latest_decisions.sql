{#
    Each experiment's latest readout in gold.experiment_results (its newest data, then its
    newest write): the decision, the data's last instant and the primary metric's relative
    lift. The dashboard's experiment selector shows them without recomputing anything.
    Rendered by streamlit_app.data.experiments.latest_decisions_sql (table:
    gold.experiment_results).
#}
with runs as (
    select
        experiment_key,
        run_id,
        max(data_through) as data_through,
        max(written_at) as written_at
    from {{ table }}
    group by experiment_key, run_id
),

ranked_runs as (
    select
        experiment_key,
        run_id,
        row_number() over (
            partition by experiment_key order by data_through desc, written_at desc
        ) as newest_first
    from runs
)

select
    results.experiment_key,
    results.decision,
    results.data_through,
    results.relative_estimate as lift
from {{ table }} as results
inner join ranked_runs
    on results.experiment_key = ranked_runs.experiment_key
    and results.run_id = ranked_runs.run_id
where ranked_runs.newest_first = 1
    and results.family = 'primary'
order by results.experiment_key
