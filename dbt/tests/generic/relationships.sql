{#
    dbt's relationships test (every non-null `column_name` is a `field` of `to`), with one
    addition for incremental builds: a test configured `meta: {same_window: true}` compares the
    rebuilt rows with the rebuilt rows of `to` only. For rows of one session (a cart session, a
    moment and their session share its start) a row of the window can only point into it, so
    the rest of `to` need not be read. Without it, `to` is read whole.
#}
{% test relationships(model, column_name, to, field) %}

{%- set parent = rebuilt_rows(to) if (config.get('meta') or {}).get('same_window') else to %}

with child as (

    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null

),

parent as (

    select {{ field }} as to_field
    from {{ parent }}

)

select child.from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null

{% endtest %}
