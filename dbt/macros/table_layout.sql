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

{% macro cluster_by_user() -%}
    {{ return(adapter.dispatch('cluster_by_user', 'ecom_growth')()) }}
{%- endmacro %}
{% macro default__cluster_by_user() -%}
    {{ return(none) }}
{%- endmacro %}
{% macro bigquery__cluster_by_user() -%}
    {{ return(['user_id']) }}
{%- endmacro %}
