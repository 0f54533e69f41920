{#
    Scoring of every cart session, one dispatched macro per engine:
    - DuckDB: the predict_abandonment() macro that `ecom score` compiles from the booster's trees
      and installs in the warehouse file (pipeline/model/sql_scoring.py);
    - BigQuery: ML.PREDICT on the BigQuery ML model (sql/bqml/create_model.sql).
    The experiment_group encoding and the model id must equal pipeline.model.features.GROUP_CODES
    and pipeline.model.bqml.MODEL_ID (tests/model/test_dbt_scoring.py checks both).
#}

{% macro abandonment_group_codes() -%}
    {{ return({'control': 0, 'treatment': 1}) }}
{%- endmacro %}

{% macro abandonment_model_id() -%}
    {{ return('abandonment_model') }}
{%- endmacro %}

{# experiment_group as the model's number (treatment = 1, control = 0). #}
{% macro abandonment_group_code(column) -%}
    case lower({{ column }})
    {%- for group, code in abandonment_group_codes().items() %} when '{{ group }}' then {{ code }}{% endfor %} end
{%- endmacro %}

{% macro score_cart_sessions(relation) -%}
    {{ return(adapter.dispatch('score_cart_sessions', 'ecom_growth')(relation)) }}
{%- endmacro %}

{% macro duckdb__score_cart_sessions(relation) %}
    with model_inputs as (
        select
            *,
            {{ abandonment_group_code('experiment_group') }} as experiment_group_code
        from {{ relation }}
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
            total_views, total_carts, session_duration_minutes, experiment_group_code
        ) as abandonment_probability
    from model_inputs
{% endmacro %}

{% macro bigquery__score_cart_sessions(relation) %}
    with predictions as (
        select *
        from ml.predict(
            model `{{ target.project }}.{{ target.dataset }}.{{ abandonment_model_id() }}`,
            (
                select
                    session_id,
                    user_id,
                    experiment_group as experiment_group_name,
                    session_start,
                    session_month,
                    total_views,
                    total_carts,
                    session_duration_minutes,
                    {{ abandonment_group_code('experiment_group') }} as experiment_group,
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
        total_views,
        total_carts,
        session_duration_minutes,
        abandoned_cart_observed as abandoned_cart,
        (
            select p.prob
            from unnest(predicted_abandoned_cart_probs) as p
            where cast(p.label as string) = '1'
        ) as abandonment_probability
    from predictions
{% endmacro %}
