{#
    The experiment group written by ingestion equals the assignment rule recomputed in SQL:
    treatment when the last hex character of md5(user_id as text) is one of the
    `treatment_hex_digits` (the odd ones; pipeline.experiment.assign_group), control otherwise.
    Digits and group names are project vars the runner sets from pipeline.experiment.
#}
{% test matches_md5_assignment(model, column_name, user_id_column='user_id') %}

{%- set treatment_digits = [] -%}
{%- for digit in var('treatment_hex_digits') -%}
    {%- do treatment_digits.append("'" ~ digit ~ "'") -%}
{%- endfor %}

with assigned as (

    select
        {{ user_id_column }} as user_id,
        {{ column_name }} as experiment_group,
        case
            when {{ md5_last_hex_char(user_id_column) }} in ({{ treatment_digits | join(', ') }})
                then '{{ var("treatment_group") }}'
            else '{{ var("control_group") }}'
        end as expected_group
    from {{ model }}
    where {{ user_id_column }} is not null

)

select user_id, experiment_group, expected_group
from assigned
where experiment_group is null or experiment_group != expected_group

{% endtest %}
