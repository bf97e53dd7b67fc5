{#- Column list of a built relation minus some columns (dbt_utils.star, which is not
    installable offline). Before execution (parse) it renders `*`. -#}
{% macro lpa_star(relation, except=[]) -%}
    {%- if not execute -%}
        *
    {%- else -%}
        {%- set excluded = except | map('lower') | list -%}
        {%- set names = [] -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name | lower not in excluded -%}
                {%- do names.append(column.name | lower) -%}
            {%- endif -%}
        {%- endfor -%}
        {{- names | join(',\n        ') if names else '*' -}}
    {%- endif -%}
{%- endmacro %}

{#- Columns that exist only to quarantine and de-duplicate; staged models drop them. -#}
{% macro lpa_quarantine_columns() -%}
    {{ return(['rejection_reason', 'rejected_record', 'rejected_line', 'source_row_key',
               'duplicate_type', 'uuid_occurrence', 'previous_attempt_received_at',
               'amplitude_id_occurrence']) }}
{%- endmacro %}

{#- The valid, de-duplicated rows of a base model, without the quarantine columns. -#}
{% macro lpa_staged_rows(base_relation) -%}
    select
        {{ lpa_star(base_relation, except=lpa_quarantine_columns() + ['staged_at']) }}

    from {{ base_relation }}

    where rejection_reason is null and duplicate_type is null
{%- endmacro %}
