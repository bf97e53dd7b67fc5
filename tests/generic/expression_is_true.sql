{#- Fails on every row where `expression` (portable SQL over the model's columns) is not true.
    A null result counts as a failure. Applied to a column, the expression is appended to the
    column name (`expression: "> 0"`), as in dbt_utils. -#}
{% test expression_is_true(model, expression, column_name=none) %}

    select *
    from {{ model }}
    {% if column_name is none -%}
        where not coalesce(({{ expression }}), false)
    {%- else -%}
        where not coalesce(({{ column_name }} {{ expression }}), false)
    {%- endif %}

{% endtest %}
