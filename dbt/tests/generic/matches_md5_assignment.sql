{#
    The experiment group equals the assignment rule recomputed in SQL: treatment when the last
    hex character of md5(salt || user_id as text) is one of the `treatment_hex_digits` (the
    odd ones; pipeline.experiment.assign_group), control otherwise. With
    `experiment_key_column` each row's salt is its experiment's (var `experiments`, from
    experiments.yml); without it the salt is empty (the seed's rule). For the injected
    experiment this checks what ingestion wrote. Digits, group names and salts are project vars
    the runner sets from pipeline.experiment and experiments.yml.
#}
{% test matches_md5_assignment(model, column_name, user_id_column='user_id', experiment_key_column=none) %}

{%- set treatment_digits = [] -%}
{%- for digit in var('treatment_hex_digits') -%}
    {%- do treatment_digits.append("'" ~ digit ~ "'") -%}
{%- endfor %}

with salted as (

    select
        {{ user_id_column }} as user_id,
        {{ column_name }} as experiment_group,
        {% if experiment_key_column -%}
        case {{ experiment_key_column }}
            {% for experiment in var('experiments') %}
            when '{{ experiment.key }}' then '{{ experiment.salt }}'
            {% endfor %}
        end
        {%- else -%}
        ''
        {%- endif %} as assignment_salt
    from {{ model }}
    where {{ user_id_column }} is not null

),

assigned as (

    select
        user_id,
        experiment_group,
        case
            when {{ md5_last_hex_char(dbt.concat([
                "assignment_salt",
                "cast(user_id as " ~ dbt.type_string() ~ ")",
            ])) }} in ({{ treatment_digits | join(', ') }})
                then '{{ var("treatment_group") }}'
            else '{{ var("control_group") }}'
        end as expected_group
    from salted

)

select user_id, experiment_group, expected_group
from assigned
where experiment_group is null or experiment_group != expected_group

{% endtest %}
