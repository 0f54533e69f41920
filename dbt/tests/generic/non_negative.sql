{# Counts, amounts of time and money that cannot be below zero. Null passes (not_null_columns is separate). #}
{% test non_negative(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
