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

{# A DATE column as the partition (BigQuery: `partition by event_date`). #}
{% macro partition_by_date(field) -%}
    {{ return(adapter.dispatch('partition_by_date', 'ecom_growth')(field)) }}
{%- endmacro %}
{% macro default__partition_by_date(field) -%}
    {{ return(none) }}
{%- endmacro %}
{% macro bigquery__partition_by_date(field) -%}
    {{ return({'field': field, 'data_type': 'date'}) }}
{%- endmacro %}

{#
    Silver's de-duplicated events: on BigQuery a table, built once per run, so the data tests
    and the gold models read it instead of re-running the de-duplication window over bronze
    through a view (each re-scan is billed). DuckDB keeps the view (free to re-read locally).
#}
{% macro materialized_once() -%}
    {{ return(adapter.dispatch('materialized_once', 'ecom_growth')()) }}
{%- endmacro %}
{% macro default__materialized_once() -%}
    {{ return('view') }}
{%- endmacro %}
{% macro bigquery__materialized_once() -%}
    {{ return('table') }}
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
