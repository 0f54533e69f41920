{#
    Replace the rows of `target` that match every (column, value) pair of `match` by the rows of
    `source`, in one transaction: a reader sees the old rows or the new, never both or none.
    Rendered by pipeline.warehouse.replace_rows_sql (the engines' `replace_rows`; the readout's
    gold.experiment_results: one run of one experiment).

    target, source  table names (source: the staged rows, same columns)
    columns         the columns to copy
    match           {column: text value}; values are checked to be plain text first
#}
begin transaction;
delete from {{ target }}
where {% for column, value in match.items() %}{{ column }} = '{{ value }}'{{ " and " if not loop.last }}{% endfor %};
insert into {{ target }} ({{ columns | join(", ") }})
select {{ columns | join(", ") }} from {{ source }};
commit transaction;
