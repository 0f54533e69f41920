{#
    Layers are schemas named as-is on DuckDB (bronze, silver, gold) and datasets named by
    settings on BigQuery (ECOM_BQ_*_DATASET, set by the runner), instead of dbt's default
    "<target schema>_<custom schema>".
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ return(adapter.dispatch('layer_schema', 'ecom_growth')(custom_schema_name)) }}
{%- endmacro %}

{% macro default__layer_schema(custom_schema_name) -%}
    {%- if custom_schema_name is none -%}
        {{ return(target.schema) }}
    {%- endif -%}
    {{ return(custom_schema_name | trim) }}
{%- endmacro %}

{% macro bigquery__layer_schema(custom_schema_name) -%}
    {%- set datasets = {
        'bronze': env_var('ECOM_BQ_BRONZE_DATASET', 'cosmetics_bronze'),
        'silver': env_var('ECOM_BQ_SILVER_DATASET', 'cosmetics_silver'),
        'gold': env_var('ECOM_BQ_GOLD_DATASET', 'cosmetics_gold'),
    } -%}
    {%- if custom_schema_name is none -%}
        {{ return(target.schema) }}
    {%- endif -%}
    {{ return(datasets.get(custom_schema_name | trim, custom_schema_name | trim)) }}
{%- endmacro %}
