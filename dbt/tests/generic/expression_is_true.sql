{# Every row satisfies a boolean SQL expression (written in the portable dialect). #}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
