{#
    The experiment group equals the assignment rule recomputed in SQL (macros/assigned_group.sql:
    treatment when the last hex character of md5(salt || user_id as text) is one of the
    `treatment_hex_digits`; pipeline.experiment.assign_group). With
    `experiment_key_column` each row's salt is its experiment's (var `experiments`, from
    experiments.yml); without it the salt is empty (the seed's rule). For the injected
    experiment this checks what ingestion wrote. Digits, group names and salts are project vars
    the runner sets from pipeline.experiment and experiments.yml.
#}
{% test matches_md5_assignment(model, column_name, user_id_column='user_id', experiment_key_column=none) %}

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
        {{ assigned_group('assignment_salt', 'user_id') }} as expected_group
    from salted

)

select user_id, experiment_group, expected_group
from assigned
where experiment_group is null or experiment_group != expected_group

{% endtest %}
