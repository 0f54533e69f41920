{#
    Row reconciliation: the rows of a finer-grained model (e.g. events) equal the sum of a
    count column of this coarser model (e.g. event_count over sessions). Returns the two
    totals when they differ.
#}
{% test sums_to_row_count(model, column_name, compare_model) %}

with summed as (

    select coalesce(sum({{ column_name }}), 0) as summed_rows
    from {{ model }}

),

counted as (

    select count(*) as counted_rows
    from {{ rebuilt_rows(compare_model) }}

)

select summed.summed_rows, counted.counted_rows
from summed
cross join counted
where summed.summed_rows != counted.counted_rows

{% endtest %}
