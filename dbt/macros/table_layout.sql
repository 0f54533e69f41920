{#
    Physical layout configs that only BigQuery understands (dbt-duckdb rejects a BigQuery
    partition_by dict): a day partition on a timestamp and clustering by user.
    Used in model config blocks: partition_by=partition_by_day('session_start').
#}
{% macro partition_by_day(field) -%}
    {{ return(adapter.dispatch('partition_by_day', 'ecom_growth')(field)) }}
{%- endmacro %}
{% macro default__partition_by_day(field) -%}
    {{ return(none) }}
{%- endmacro %}
{% macro bigquery__partition_by_day(field) -%}
    {{ return({'field': field, 'data_type': 'timestamp', 'granularity': 'day'}) }}
{%- endmacro %}

{#
    Silver's de-duplicated events. DuckDB: a view (re-reading bronze is free locally, and the
    one model that reads it reads only the window's days). BigQuery: a table, rebuilt by day
    like the models after it, so the data tests and int_session_boundaries read it instead of
    re-running the de-duplication window over bronze through a view (each re-scan is billed).
#}
{% macro staged_by_day(column) -%}
    {{ return(adapter.dispatch('staged_by_day', 'ecom_growth')(column)) }}
{%- endmacro %}
{% macro default__staged_by_day(column) -%}
    {{ return({'materialized': 'view', 'meta': {'window_column': column}}) }}
{%- endmacro %}
{% macro bigquery__staged_by_day(column) -%}
    {{ return(dict(incremental_by_day(column), materialized='incremental')) }}
{%- endmacro %}

{% macro cluster_by_user() -%}
    {{ return(adapter.dispatch('cluster_by_user', 'ecom_growth')()) }}
{%- endmacro %}
{% macro default__cluster_by_user() -%}
    {{ return(none) }}
{%- endmacro %}
{% macro bigquery__cluster_by_user() -%}
    {{ return(['user_id']) }}
{%- endmacro %}
