{#- JSON access behind adapter.dispatch: the one place that knows DuckDB's json_transform and
    PostgreSQL's jsonb operators. `default__` is DuckDB. -#}

{#- Parse a text column holding one JSON object, once per row. Returns null for anything that
    is not a JSON object (bad input is quarantined downstream, never aborts the build).
    `fields` maps each key to 'text' or 'json'. -#}
{% macro lpa_parse_json_object(text_expr, fields) -%}
    {{ return(adapter.dispatch('lpa_parse_json_object')(text_expr, fields)) }}
{%- endmacro %}

{% macro default__lpa_parse_json_object(text_expr, fields) -%}
    {%- set structure = {} -%}
    {%- for key, kind in fields.items() -%}
        {%- do structure.update({key: ('JSON' if kind == 'json' else 'VARCHAR')}) -%}
    {%- endfor -%}
    case
        when json_valid({{ text_expr }}) and json_type({{ text_expr }}) = 'OBJECT'
            then json_transform({{ text_expr }}, '{{ tojson(structure) | replace("'", "''") }}')
    end
{%- endmacro %}

{% macro postgres__lpa_parse_json_object(text_expr, fields) -%}
    {{ target.schema }}.lpa_try_jsonb_object({{ text_expr }})
{%- endmacro %}

{#- A top-level value of a parsed object as text (numbers and booleans as their JSON text). -#}
{% macro lpa_json_text(record, key) -%}
    {{ return(adapter.dispatch('lpa_json_text')(record, key)) }}
{%- endmacro %}

{% macro default__lpa_json_text(record, key) -%}
    {{ record }}['{{ key }}']
{%- endmacro %}

{% macro postgres__lpa_json_text(record, key) -%}
    ({{ record }} ->> '{{ key }}')
{%- endmacro %}

{#- A top-level value of a parsed object as JSON; JSON null becomes SQL null on both. -#}
{% macro lpa_json_value(record, key) -%}
    {{ return(adapter.dispatch('lpa_json_value')(record, key)) }}
{%- endmacro %}

{% macro default__lpa_json_value(record, key) -%}
    nullif({{ record }}['{{ key }}'], cast('null' as json))
{%- endmacro %}

{% macro postgres__lpa_json_value(record, key) -%}
    nullif({{ record }} -> '{{ key }}', cast('null' as jsonb))
{%- endmacro %}

{#- A row of text columns as a JSON object text, for quarantined rows. -#}
{% macro lpa_columns_to_json(columns, relation_alias) -%}
    {{ return(adapter.dispatch('lpa_columns_to_json')(columns, relation_alias)) }}
{%- endmacro %}

{% macro default__lpa_columns_to_json(columns, relation_alias) -%}
    cast(to_json(struct_pack(
        {%- for column in columns %}
        {{ column }} := {{ relation_alias }}.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    )) as varchar)
{%- endmacro %}

{% macro postgres__lpa_columns_to_json(columns, relation_alias) -%}
    cast(json_build_object(
        {%- for column in columns %}
        '{{ column }}', {{ relation_alias }}.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    ) as text)
{%- endmacro %}

{#- Run-start hook: the PostgreSQL helper used by lpa_parse_json_object. `parallel unsafe`:
    its exception block is a subtransaction, which PostgreSQL refuses while a parallel plan
    runs, even in the leader ("parallel restricted" is not enough). Once the tables have
    statistics, large builds get parallel plans and would fail. -#}
{% macro lpa_create_udfs() -%}
    {{ return(adapter.dispatch('lpa_create_udfs')()) }}
{%- endmacro %}

{% macro default__lpa_create_udfs() -%}
    select 1
{%- endmacro %}

{% macro postgres__lpa_create_udfs() -%}
    create schema if not exists {{ target.schema }};
    create or replace function {{ target.schema }}.lpa_try_jsonb_object(raw_text text)
    returns jsonb
    language plpgsql immutable parallel unsafe
    as $lpa$
    declare
        parsed jsonb;
    begin
        parsed := cast(raw_text as jsonb);
        if jsonb_typeof(parsed) = 'object' then
            return parsed;
        end if;
        return null;
    exception when others then
        return null;
    end
    $lpa$
{%- endmacro %}

{#- `as materialized` for the CTE that parses JSON: PostgreSQL would otherwise inline it and
    call the parse function once per extracted key instead of once per row. DuckDB eliminates
    the common subexpression itself. -#}
{% macro lpa_materialized() -%}
    {{ return(adapter.dispatch('lpa_materialized')()) }}
{%- endmacro %}

{% macro default__lpa_materialized() -%}{%- endmacro %}

{% macro postgres__lpa_materialized() -%}materialized{%- endmacro %}
