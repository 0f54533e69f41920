{#
    The experiment group written by ingestion equals the assignment rule recomputed in SQL:
    treatment when the last hex character of md5(user_id as text) is odd
    (pipeline.experiment.assign_group), control otherwise.
#}
{% test matches_md5_assignment(model, column_name, user_id_column='user_id') %}

with assigned as (

    select
        {{ user_id_column }} as user_id,
        {{ column_name }} as experiment_group,
        case
            when {{ md5_last_hex_char(user_id_column) }} in ('1', '3', '5', '7', '9', 'b', 'd', 'f')
                then 'treatment'
            else 'control'
        end as expected_group
    from {{ model }}
    where {{ user_id_column }} is not null

)

select user_id, experiment_group, expected_group
from assigned
where experiment_group is null or experiment_group != expected_group

{% endtest %}
