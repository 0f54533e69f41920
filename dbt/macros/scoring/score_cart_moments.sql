{#
    Scoring of every prediction point of fct_cart_moments with the moment model `ecom score
    --family moment` installed: predict_moment_abandonment(), the booster's trees and its Platt
    calibration compiled to SQL (pipeline/model/moment/scoring.py), a macro in DuckDB and a
    function in the gold dataset on BigQuery. Nothing of the model is written here: the feature
    order, the experiment_group encoding, the model id and the decision rule arrive as the dbt
    var `moment_model` (pipeline.model.moment.scoring.dbt_vars).
#}

{% macro moment_model_var(key) -%}
    {%- set contract = var('moment_model', none) -%}
    {%- if contract is none -%}
        {%- if execute and flags.WHICH in ('build', 'run', 'test') -%}
            {{ exceptions.raise_compiler_error(
                "dbt var 'moment_model' is not set: the moment scoring model takes the feature "
                ~ "contract and the model from Python. Build it with `ecom score --family "
                ~ "moment`, not with dbt directly."
            ) }}
        {%- endif -%}
        {#- parsing and docs only: an empty contract renders harmless, unrunnable SQL -#}
        {{ return({'features': [], 'group_feature': none, 'group_codes': {}, 'model_id': none,
                   'gross_margin_rate': 0, 'recovery_share': 0, 'intervention_cost': 0}[key]) }}
    {%- endif -%}
    {{ return(contract[key]) }}
{%- endmacro %}

{# The model's inputs in contract order: the group feature encoded, the others as they are. #}
{% macro moment_model_inputs() -%}
    {%- set group_feature = moment_model_var('group_feature') -%}
    {%- set inputs = [] -%}
    {%- for feature in moment_model_var('features') -%}
        {%- if feature == group_feature -%}
            {%- set case -%}
                case lower({{ feature }})
                {%- for group, code in moment_model_var('group_codes').items() %} when '{{ group }}' then {{ code }}{% endfor %} end
            {%- endset -%}
            {%- do inputs.append(case) -%}
        {%- else -%}
            {%- do inputs.append(feature) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(inputs) }}
{%- endmacro %}

{# Where predict_moment_abandonment() lives: DuckDB's macro in the warehouse file, BigQuery's
   function in the dataset of the scores (gold). #}
{% macro predict_moment_abandonment_name() -%}
    {{ return(adapter.dispatch('predict_moment_abandonment_name', 'ecom_growth')()) }}
{%- endmacro %}
{% macro default__predict_moment_abandonment_name() -%}predict_moment_abandonment{%- endmacro %}
{% macro bigquery__predict_moment_abandonment_name() -%}`{{ this.database }}.{{ this.schema }}.predict_moment_abandonment`{%- endmacro %}

{# The calibrated probability of every row, then the decision rule's expected value of
   intervening on it: P x max(cart price, 0) x margin rate x recovery share - cost. #}
{% macro score_cart_moments(relation) %}
    with probabilities as (
        select
            session_id,
            prediction_point,
            user_id,
            experiment_group,
            session_month,
            point_at,
            cart_price,
            abandoned,
            purchased_within_24h,
            {{ predict_moment_abandonment_name() }}(
                {{ moment_model_inputs() | join(',\n                ') }}
            ) as abandonment_probability
        from {{ relation }}
    )

    select
        session_id,
        prediction_point,
        user_id,
        experiment_group,
        session_month,
        point_at,
        cart_price,
        abandoned,
        purchased_within_24h,
        abandonment_probability,
        abandonment_probability * greatest(cart_price, 0)
            * {{ moment_model_var('gross_margin_rate') }} * {{ moment_model_var('recovery_share') }}
            - {{ moment_model_var('intervention_cost') }} as intervention_value,
        '{{ moment_model_var('model_id') }}' as model_id,
        {{ dbt.current_timestamp() }} as scored_at
    from probabilities
{% endmacro %}

{# Every prediction point has exactly one row of the model just scored, and that model scored
   nothing else. #}
{% test scores_every_moment(model, moments) %}
with current_model as (
    select session_id, prediction_point
    from {{ model }}
    where model_id = '{{ moment_model_var('model_id') }}'
),

not_scored as (
    select m.session_id, m.prediction_point, 'prediction point without a score' as problem
    from {{ moments }} as m
    where not exists (
        select 1 from current_model as s
        where s.session_id = m.session_id and s.prediction_point = m.prediction_point
    )
),

not_a_moment as (
    select s.session_id, s.prediction_point, 'score of no prediction point' as problem
    from current_model as s
    where not exists (
        select 1 from {{ moments }} as m
        where m.session_id = s.session_id and m.prediction_point = s.prediction_point
    )
)

select * from not_scored
union all
select * from not_a_moment
{% endtest %}
