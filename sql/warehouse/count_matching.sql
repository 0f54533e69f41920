{#
    How many rows of `target` match every (column, value) pair of `match`: what a
    replace_rows.sql left there. Rendered by pipeline.warehouse.count_matching_sql.
#}
select cast(count(*) as {{ type_int64() }}) as matching
from {{ target }}
where {% for column, value in match.items() %}{{ column }} = '{{ value }}'{{ " and " if not loop.last }}{% endfor %}
