{#
    Scoring of every cart session with the model `ecom score` installed:
    - DuckDB: the predict_abandonment() macro over its lookup table, compiled from the booster
      (pipeline/model/sql_scoring.py);
    - BigQuery, a locally trained model: the predict_abandonment() function `ecom score`
      creates in the gold dataset from the same trees;
    - BigQuery, a model trained in BigQuery ML: ML.PREDICT on it (sql/bqml/create_model.sql).
    Nothing of the model's contract is written here: the feature order, the experiment_group
    encoding, the model id and the scorer arrive as the dbt var `abandonment_model`, which
    `ecom score` passes from Python (pipeline.model.sql_scoring.dbt_scoring_vars).
#}

{% macro abandonment_model_var(key) -%}
    {%- set contract = var('abandonment_model', none) -%}
    {%- if contract is none -%}
        {%- if execute and flags.WHICH in ('build', 'run', 'test') -%}
            {{ exceptions.raise_compiler_error(
                "dbt var 'abandonment_model' is not set: the scoring model takes the feature "
                ~ "contract and the model from Python. Build it with `ecom score`, not with dbt "
                ~ "directly."
            ) }}
        {%- endif -%}
        {#- parsing and docs only: an empty contract renders harmless, unrunnable SQL -#}
        {{ return({'features': [], 'group_feature': none, 'group_codes': {}, 'model_id': none,
                   'scorer': 'sql', 'bqml_model': none}[key]) }}
    {%- endif -%}
    {{ return(contract[key]) }}
{%- endmacro %}

{# The contract's experiment_group encoding as a SQL case expression (Jinja; not the
   abandonment_group_code() macro/function that `ecom score` installs for analysts). #}
{% macro abandonment_group_case(column) -%}
    case lower({{ column }})
    {%- for group, code in abandonment_model_var('group_codes').items() %} when '{{ group }}' then {{ code }}{% endfor %} end
{%- endmacro %}

{# The model's inputs in contract order: the group feature encoded, the others as they are. #}
{% macro abandonment_model_inputs() -%}
    {%- set group_feature = abandonment_model_var('group_feature') -%}
    {%- set inputs = [] -%}
    {%- for feature in abandonment_model_var('features') -%}
        {%- do inputs.append(abandonment_group_case(feature) if feature == group_feature else feature) -%}
    {%- endfor -%}
    {{ return(inputs) }}
{%- endmacro %}

{# Where predict_abandonment() lives: DuckDB's macro in the warehouse file, BigQuery's function
   in the dataset of the scores (gold). #}
{% macro predict_abandonment_name() -%}
    {{ return(adapter.dispatch('predict_abandonment_name', 'ecom_growth')()) }}
{%- endmacro %}
{% macro default__predict_abandonment_name() -%}predict_abandonment{%- endmacro %}
{% macro bigquery__predict_abandonment_name() -%}`{{ this.database }}.{{ this.schema }}.predict_abandonment`{%- endmacro %}

{% macro score_cart_sessions(relation) -%}
    {{ return(adapter.dispatch('score_cart_sessions', 'ecom_growth')(relation)) }}
{%- endmacro %}

{# The compiled scorer, on either engine. #}
{% macro default__score_cart_sessions(relation) %}
    select
        session_id,
        user_id,
        experiment_group,
        session_start,
        session_month,
        total_views,
        total_carts,
        session_duration_minutes,
        abandoned_cart,
        {{ predict_abandonment_name() }}(
            {{ abandonment_model_inputs() | join(',\n            ') }}
        ) as abandonment_probability,
        '{{ abandonment_model_var('model_id') }}' as model_id,
        {{ dbt.current_timestamp() }} as scored_at
    from {{ relation }}
{% endmacro %}

{% macro bigquery__score_cart_sessions(relation) %}
    {%- if abandonment_model_var('scorer') != 'ml_predict' -%}
        {{ return(default__score_cart_sessions(relation)) }}
    {%- endif -%}
    {%- set features = abandonment_model_var('features') -%}
    with predictions as (
        select *
        from ml.predict(
            model `{{ target.project }}.{{ this.schema }}.{{ abandonment_model_var('bqml_model') }}`,
            (
                select
                    session_id,
                    user_id,
                    experiment_group as experiment_group_name,
                    session_start,
                    session_month,
                    total_views as total_views_observed,
                    total_carts as total_carts_observed,
                    session_duration_minutes as session_duration_minutes_observed,
                    {%- for input in abandonment_model_inputs() %}
                    {{ input }} as {{ features[loop.index0] }},
                    {%- endfor %}
                    abandoned_cart as abandoned_cart_observed
                from {{ relation }}
            )
        )
    )

    select
        session_id,
        user_id,
        experiment_group_name as experiment_group,
        session_start,
        session_month,
        total_views_observed as total_views,
        total_carts_observed as total_carts,
        session_duration_minutes_observed as session_duration_minutes,
        abandoned_cart_observed as abandoned_cart,
        (
            select p.prob
            from unnest(predicted_abandoned_cart_probs) as p
            where cast(p.label as string) = '1'
        ) as abandonment_probability,
        '{{ abandonment_model_var('model_id') }}' as model_id,
        {{ dbt.current_timestamp() }} as scored_at
    from predictions
{% endmacro %}

{#
    The layout of a scores table, one row per (row of the scored table, model): a score run
    replaces the rows of its model and leaves every other model's rows as they are.
    - DuckDB: delete+insert keyed on model_id (dbt-duckdb deletes the model's rows, then
      inserts the new ones, in one transaction).
    - BigQuery (no delete+insert): merge on the row key and model_id, then delete the model's
      rows this run did not write (rows of sessions that no longer exist), found by an older
      scored_at: every row a run writes carries the run's one timestamp.
    Use: {{ config(**model_scores_config(['session_id'], abandonment_model_var('model_id'))) }}
#}
{% macro model_scores_config(row_key, model_id) -%}
    {{ return(adapter.dispatch('model_scores_config', 'ecom_growth')(row_key, model_id)) }}
{%- endmacro %}

{% macro default__model_scores_config(row_key, model_id) -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': 'model_id'}) }}
{%- endmacro %}

{% macro bigquery__model_scores_config(row_key, model_id) -%}
    {%- set stale_rows -%}
        delete from {{ '{{ this }}' }}
        where model_id = '{{ model_id }}'
            and scored_at < (select max(scored_at) from {{ '{{ this }}' }} where model_id = '{{ model_id }}')
    {%- endset -%}
    {{ return({
        'incremental_strategy': 'merge',
        'unique_key': row_key + ['model_id'],
        'post_hook': [stale_rows],
    }) }}
{%- endmacro %}

{# Every cart session has exactly one row of the model just scored, and that model scored
   nothing else. #}
{% test scores_every_cart_session(model, cart_sessions) %}
with current_model as (
    select session_id
    from {{ model }}
    where model_id = '{{ abandonment_model_var('model_id') }}'
),

not_scored as (
    select session_id, 'cart session without a score' as problem
    from {{ cart_sessions }} as c
    where not exists (select 1 from current_model as s where s.session_id = c.session_id)
),

not_a_cart_session as (
    select session_id, 'score of no cart session' as problem
    from current_model as s
    where not exists (select 1 from {{ cart_sessions }} as c where c.session_id = s.session_id)
)

select * from not_scored
union all
select * from not_a_cart_session
{% endtest %}
