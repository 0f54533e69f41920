{#
    Columns that must never be null, checked in one query per model instead of dbt's one
    `not_null` test per column. On BigQuery every test is a billed query, and on a rebuild each
    reads the window column beside the column it tests (macros/incremental.sql): twenty
    one-column tests read it twenty times, this reads it once (docs/explanation/
    incremental-builds.md has the figures). Returns the rows where any listed column is null,
    with those columns, so a failure shows which one.
#}
{% test not_null_columns(model, column_names) %}

select {{ column_names | join(', ') }}
from {{ model }}
where
    {%- for column in column_names %}
    {{ 'or ' if not loop.first }}{{ column }} is null
    {%- endfor %}

{% endtest %}
