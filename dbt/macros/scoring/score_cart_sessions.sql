{#
    Scoring of every cart session, one dispatched macro per engine:
    - DuckDB: the predict_abandonment() macro that `ecom score` compiles from the booster's trees
      and installs in the warehouse file (pipeline/model/sql_scoring.py);
    - BigQuery: ML.PREDICT on the BigQuery ML model (sql/bqml/create_model.sql).
    Nothing of the model's contract is written here: the feature order, the experiment_group
    encoding and the model id arrive as the dbt var `abandonment_model`, which `ecom score`
    passes from pipeline/model/features.py (pipeline.model.sql_scoring.dbt_scoring_vars).
#}

{% macro abandonment_model_var(key) -%}
    {%- set contract = var('abandonment_model', none) -%}
    {%- if contract is none -%}
        {%- if execute and flags.WHICH in ('build', 'run') -%}
            {{ exceptions.raise_compiler_error(
                "dbt var 'abandonment_model' is not set: the scoring model takes the feature "
                ~ "contract from Python. Build it with `ecom score`, not with dbt directly."
            ) }}
        {%- endif -%}
        {#- parsing and docs only: an empty contract renders harmless, unrunnable SQL -#}
        {{ return({'features': [], 'group_feature': none, 'group_codes': {}, 'model_id': none}[key]) }}
    {%- endif -%}
    {{ return(contract[key]) }}
{%- endmacro %}

{# The contract's experiment_group encoding as a SQL case expression (Jinja; not the
   abandonment_group_code() DuckDB macro that `ecom score` installs for analysts). #}
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

{% macro score_cart_sessions(relation) -%}
    {{ return(adapter.dispatch('score_cart_sessions', 'ecom_growth')(relation)) }}
{%- endmacro %}

{% macro duckdb__score_cart_sessions(relation) %}
    with cart_sessions as (
        select * from {{ relation }}
    )

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
        predict_abandonment(
            {{ abandonment_model_inputs() | join(',\n            ') }}
        ) as abandonment_probability
    from cart_sessions
{% endmacro %}

{% macro bigquery__score_cart_sessions(relation) %}
    {%- set features = abandonment_model_var('features') -%}
    with predictions as (
        select *
        from ml.predict(
            model `{{ target.project }}.{{ target.dataset }}.{{ abandonment_model_var('model_id') }}`,
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
        ) as abandonment_probability
    from predictions
{% endmacro %}
