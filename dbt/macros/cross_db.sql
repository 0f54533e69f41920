{#
    The few places where DuckDB and BigQuery SQL differ, as dispatched macros with a
    duckdb__ and a bigquery__ variant. Models call these and stay engine-neutral.

    The one dialect of the project: the Python side (pipeline/warehouse/dialect.py and the
    queries of sql/) renders these same variants with plain Jinja2, without dbt. Keep every
    variant a one-line expression of its arguments (no dbt context: no adapter, ref or var).
#}

{# Microseconds since the epoch: exact elapsed time (DuckDB's date_diff counts boundaries). #}
{% macro epoch_microseconds(ts) -%}
    {{ return(adapter.dispatch('epoch_microseconds', 'ecom_growth')(ts)) }}
{%- endmacro %}
{% macro duckdb__epoch_microseconds(ts) -%}epoch_us({{ ts }}){%- endmacro %}
{% macro bigquery__epoch_microseconds(ts) -%}unix_micros({{ ts }}){%- endmacro %}

{# An instant as a UTC timestamp (DuckDB timestamptz, BigQuery timestamp). #}
{% macro utc_timestamp(value) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'ecom_growth')(value)) }}
{%- endmacro %}
{% macro duckdb__utc_timestamp(value) -%}cast({{ value }} as timestamptz){%- endmacro %}
{% macro bigquery__utc_timestamp(value) -%}cast({{ value }} as timestamp){%- endmacro %}

{# The UTC calendar date of an instant, whatever the session time zone. #}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'ecom_growth')(ts)) }}
{%- endmacro %}
{% macro duckdb__utc_date(ts) -%}cast(timezone('UTC', {{ ts }}) as date){%- endmacro %}
{% macro bigquery__utc_date(ts) -%}date({{ ts }}, 'UTC'){%- endmacro %}

{# The UTC month of an instant as 'YYYY-MM'. #}
{% macro utc_month(ts) -%}
    {{ return(adapter.dispatch('utc_month', 'ecom_growth')(ts)) }}
{%- endmacro %}
{% macro duckdb__utc_month(ts) -%}strftime(timezone('UTC', {{ ts }}), '%Y-%m'){%- endmacro %}
{% macro bigquery__utc_month(ts) -%}format_timestamp('%Y-%m', {{ ts }}, 'UTC'){%- endmacro %}

{#
    Lower-case hex MD5 of a string, equal to Python's hashlib.md5(text.encode()).hexdigest()
    (BigQuery's md5 returns bytes, DuckDB's a hex string).
#}
{% macro md5_hex(text) -%}
    {{ return(adapter.dispatch('md5_hex', 'ecom_growth')(text)) }}
{%- endmacro %}
{% macro duckdb__md5_hex(text) -%}md5({{ text }}){%- endmacro %}
{% macro bigquery__md5_hex(text) -%}to_hex(md5({{ text }})){%- endmacro %}

{#
    Last hex character of that MD5: its parity is the experiment assignment
    (pipeline.experiment.assign_group). DuckDB's md5_number() has another parity: not used.
#}
{% macro md5_last_hex_char(value) -%}
    {{ return(adapter.dispatch('md5_last_hex_char', 'ecom_growth')(value)) }}
{%- endmacro %}
{% macro duckdb__md5_last_hex_char(value) -%}right(md5(cast({{ value }} as varchar)), 1){%- endmacro %}
{% macro bigquery__md5_last_hex_char(value) -%}substr(to_hex(md5(cast({{ value }} as string))), -1){%- endmacro %}

{# A 64-bit float (dbt.type_float() is a 32-bit float on DuckDB). #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'ecom_growth')()) }}
{%- endmacro %}
{% macro duckdb__type_double() -%}double{%- endmacro %}
{% macro bigquery__type_double() -%}float64{%- endmacro %}

{#
    BigQuery's canonical type names. dbt.type_bigint() and dbt.type_boolean() render `bigint`
    and `boolean` there: aliases BigQuery accepts but ZetaSQL, its open-source analyzer (the
    test suite's check), does not; the canonical names pass both.
#}
{% macro type_int64() -%}
    {{ return(adapter.dispatch('type_int64', 'ecom_growth')()) }}
{%- endmacro %}
{% macro duckdb__type_int64() -%}bigint{%- endmacro %}
{% macro bigquery__type_int64() -%}int64{%- endmacro %}

{% macro type_bool() -%}
    {{ return(adapter.dispatch('type_bool', 'ecom_growth')()) }}
{%- endmacro %}
{% macro duckdb__type_bool() -%}boolean{%- endmacro %}
{% macro bigquery__type_bool() -%}bool{%- endmacro %}

{#
    A select of one row, `alias`: the `share` percentile of `column` over `source`, linearly
    interpolated (numpy's default). BigQuery has percentile_cont only as an analytic function,
    hence the outer aggregate. The readout's winsorization cap (sql/readout/group_totals.sql).
#}
{% macro percentile_select(column, share, source, alias) -%}
    {{ return(adapter.dispatch('percentile_select', 'ecom_growth')(column, share, source, alias)) }}
{%- endmacro %}
{% macro duckdb__percentile_select(column, share, source, alias) -%}
select quantile_cont({{ column }}, {{ share }}) as {{ alias }} from {{ source }}
{%- endmacro %}
{% macro bigquery__percentile_select(column, share, source, alias) -%}
select max({{ alias }}) as {{ alias }} from (select percentile_cont({{ column }}, {{ share }}) over () as {{ alias }} from {{ source }})
{%- endmacro %}

{# A UTC timestamp from microseconds since the epoch (the inverse of epoch_microseconds). #}
{% macro timestamp_from_epoch_microseconds(us) -%}
    {{ return(adapter.dispatch('timestamp_from_epoch_microseconds', 'ecom_growth')(us)) }}
{%- endmacro %}
{% macro duckdb__timestamp_from_epoch_microseconds(us) -%}make_timestamptz({{ us }}){%- endmacro %}
{% macro bigquery__timestamp_from_epoch_microseconds(us) -%}timestamp_micros({{ us }}){%- endmacro %}

{# A UTC instant written as 'YYYY-MM-DD HH:MM:SS', as a timestamp literal. #}
{% macro utc_timestamp_literal(text) -%}
    {{ return(adapter.dispatch('utc_timestamp_literal', 'ecom_growth')(text)) }}
{%- endmacro %}
{% macro duckdb__utc_timestamp_literal(text) -%}timestamptz '{{ text }}+00'{%- endmacro %}
{% macro bigquery__utc_timestamp_literal(text) -%}timestamp '{{ text }}+00'{%- endmacro %}
