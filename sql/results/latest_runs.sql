{#
    A macro, not a query: the CTEs that find each experiment's latest run in
    gold.experiment_results (its newest data, then its newest write), `latest_runs` holding
    newest_first = 1 for it. Imported by results/shipped_last_quarter.sql and
    dashboard/latest_decisions.sql.
#}
{% macro latest_runs(table) %}
runs as (
    select
        experiment_key,
        run_id,
        max(data_through) as data_through,
        max(written_at) as written_at
    from {{ table }}
    group by experiment_key, run_id
),

latest_runs as (
    select
        experiment_key,
        run_id,
        row_number() over (
            partition by experiment_key order by data_through desc, written_at desc
        ) as newest_first
    from runs
)
{%- endmacro %}
