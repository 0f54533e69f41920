{#
    Incremental builds (docs/explanation/incremental-builds.md). The runner
    (pipeline/warehouse/incremental.py) works out what changed since the last build from the
    ingestion manifests and passes one window as two vars:
      rebuild_from   'YYYY-MM-DD': the first UTC day whose rows may differ from the last build's
                     (no session that starts before it can have changed);
      rebuild_until  'YYYY-MM-DD': the last UTC day any build has held data for.
    Every incremental model replaces its rows from `rebuild_from` on: the day partitions of
    that window on BigQuery (insert_overwrite with the days listed), a delete and an insert of
    the same rows on DuckDB (the `replace_window` strategy below). Without the vars (a full
    build, `--full-refresh`, or the first build) every model is built from all the data.
#}

{# The window's first day, or none on a full build. #}
{% macro rebuild_from() -%}
    {{ return(var('rebuild_from', none)) }}
{%- endmacro %}

{# True when this model rebuilds a window of its existing rows: the branch models take. (A
   `dbt compile` or `docs generate` of a built warehouse without the vars shows the full
   build's SQL.) #}
{% macro rebuilding() -%}
    {{ return(is_incremental() and rebuild_from() is not none) }}
{%- endmacro %}

{# The window's start as a UTC timestamp literal, `minutes_before` earlier if given (a lookback). #}
{% macro window_start(minutes_before=0) -%}
    {%- set day = modules.datetime.datetime.strptime(rebuild_from(), '%Y-%m-%d') -%}
    {%- set start = day - modules.datetime.timedelta(minutes=minutes_before) -%}
    {{ return(utc_timestamp_literal(start.strftime('%Y-%m-%d %H:%M:%S'))) }}
{%- endmacro %}

{#
    Called by every incremental model: its existing rows and the window must agree. An existing
    table without a window would be appended to from all the data; a window without the table
    would build it from the window's rows only. Both are refused with what to run instead.
#}
{% macro check_rebuild_window() -%}
    {%- if execute and flags.WHICH in ('build', 'run') and model.config.materialized == 'incremental' -%}
        {%- if is_incremental() and rebuild_from() is none -%}
            {{ exceptions.raise_compiler_error(
                this ~ " exists and no rebuild window was given. Build with `ecom warehouse` "
                ~ "(it passes the window of what changed since the last build), or rebuild "
                ~ "everything with `ecom warehouse --full-refresh`."
            ) }}
        {%- elif not is_incremental() and rebuild_from() is not none -%}
            {{ exceptions.raise_compiler_error(
                "A rebuild window was given but " ~ this ~ " does not exist yet (or a full "
                ~ "refresh was asked for): `ecom warehouse --full-refresh` builds it from all "
                ~ "the data."
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    The layout of an incremental model (its folder sets `materialized`) whose rows belong to the
    UTC day of `column`, a timestamp, and are rebuilt from `rebuild_from` on.
    Use: {{ config(**incremental_by_day('session_start')) }}.
#}
{% macro incremental_by_day(column) -%}
    {{ return(adapter.dispatch('incremental_by_day', 'ecom_growth')(column)) }}
{%- endmacro %}

{% macro default__incremental_by_day(column) -%}
    {{ return({
        'incremental_strategy': 'replace_window',
        'meta': {'window_column': column},
    }) }}
{%- endmacro %}

{% macro bigquery__incremental_by_day(column) -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'partition_by': bigquery__partition_by_day(column),
        'partitions': window_days(),
        'cluster_by': ['user_id'],
        'meta': {'window_column': column},
    }) }}
{%- endmacro %}

{# Every day of the window as a timestamp literal: the partitions insert_overwrite replaces
   (a day with no rows left is replaced by nothing, so deleted rows do not linger). #}
{% macro window_days() -%}
    {%- if rebuild_from() is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set first = modules.datetime.datetime.strptime(rebuild_from(), '%Y-%m-%d') -%}
    {%- set last = modules.datetime.datetime.strptime(var('rebuild_until') or rebuild_from(), '%Y-%m-%d') -%}
    {%- set days = [] -%}
    {%- for offset in range((last - first).days + 1) -%}
        {%- set day = first + modules.datetime.timedelta(days=offset) -%}
        {%- do days.append(utc_timestamp_literal(day.strftime('%Y-%m-%d %H:%M:%S'))) -%}
    {%- endfor -%}
    {{ return(days) }}
{%- endmacro %}

{#
    DuckDB's partition replacement (dbt-duckdb's delete+insert deletes only the keys the new
    rows hold, so a day whose rows all went away would keep them): delete every row of the
    window, insert the rebuilt ones, in the materialization's one transaction. The model's
    SQL has already run into the temporary relation, so it read the rows before the delete.
#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set column = config.get('meta', {}).get('window_column') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ column }} >= {{ window_start() }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}

{#
    Data tests on a rebuild check what it rewrote: a test of a model or source whose config
    meta names a `window_column` reads only the rows from `rebuild_from` on (the rows before
    were checked when they were built, and the rebuild did not touch them). A test that must
    see the whole table says so in its config: `meta: {whole_table: true}`. This overrides
    dbt's get_where_subquery, which also applies a test's own `where` config.
#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {%- set column = tested_window_column() -%}
    {%- if column -%}
        {%- do conditions.append(column ~ ' >= ' ~ window_start()) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{# The window column of the model or source the current test checks, on a rebuild; none
   otherwise (a full build, a whole-table test, or a table rebuilt whole). #}
{% macro tested_window_column() -%}
    {%- if rebuild_from() is none or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if (config.get('meta') or {}).get('whole_table') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set tested = model.attached_node or (model.depends_on.nodes | first) -%}
    {%- set node = graph.nodes.get(tested) or graph.sources.get(tested) -%}
    {{ return(window_column_of(node) if node else none) }}
{%- endmacro %}

{% macro window_column_of(node) -%}
    {%- set meta = (node.config or {}).get('meta') or node.get('meta') or {} -%}
    {{ return(meta.get('window_column')) }}
{%- endmacro %}

{#
    A relation a test compares with (sums_to_row_count's compare_model), windowed like the
    tested model: only when the test itself is windowed and the relation has a window column.
#}
{% macro rebuilt_rows(relation) -%}
    {%- if tested_window_column() is none -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') -%}
        {%- if node.alias == relation.identifier and node.schema == relation.schema -%}
            {%- set column = window_column_of(node) -%}
            {%- if column -%}
                {%- set filtered -%}
                    (select * from {{ relation }} where {{ column }} >= {{ window_start() }}) rebuilt_rows
                {%- endset -%}
                {{ return(filtered) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(relation) }}
{%- endmacro %}
