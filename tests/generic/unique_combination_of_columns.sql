{#- Fails on every combination of `combination_of_columns` that occurs more than once. A null
    is a value of its own: GROUP BY puts all nulls of a column in one group (standard SQL, same
    on DuckDB and PostgreSQL), so two rows that differ only by null vs null are duplicates. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    {%- set columns_csv = combination_of_columns | join(', ') %}

    select
        {{ columns_csv }},
        count(*) as n_records
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1

{% endtest %}
