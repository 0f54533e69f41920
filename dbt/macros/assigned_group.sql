{#
    The experiment group by the assignment rule (pipeline.experiment.assign_group): treatment
    when the last hex character of md5(salt || user id as text) is one of the var
    `treatment_hex_digits` (the odd ones), control otherwise. `salt` and `user_id` are SQL
    expressions. gold.fct_experiment_users assigns with it; the test matches_md5_assignment
    recomputes what ingestion and that model wrote.
#}
{% macro assigned_group(salt, user_id) -%}
    {%- set treatment_digits = [] -%}
    {%- for digit in var('treatment_hex_digits') -%}
        {%- do treatment_digits.append("'" ~ digit ~ "'") -%}
    {%- endfor -%}
    case
        when {{ md5_last_hex_char(dbt.concat([
            salt,
            "cast(" ~ user_id ~ " as " ~ dbt.type_string() ~ ")",
        ])) }} in ({{ treatment_digits | join(', ') }})
            then '{{ var("treatment_group") }}'
        else '{{ var("control_group") }}'
    end
{%- endmacro %}
