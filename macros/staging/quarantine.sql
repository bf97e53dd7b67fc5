{#- SQL list literal from a list of strings: ['a', 'b'] -> 'a', 'b' -#}
{% macro lpa_sql_list(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- The quarantined rows of one base model, in the shape of the *_rejected_rows models. Every
    base model carries rejection_reason, source_row_key, source_file_name, loaded_at and the
    raw record of rejected rows; identical raw rows get an occurrence number so the key stays
    unique. -#}
{% macro lpa_rejected_rows(base_relation, source_table, raw_record_column) -%}
    select
        {{ dbt.hash(dbt.concat([
            "'" ~ source_table ~ "'", "'|'", 'source_row_key', "'|'",
            dbt.cast('occurrence', dbt.type_string())
        ])) }} as rejected_row_id,
        '{{ source_table }}' as source_table,
        source_file_name,
        source_row_key,
        occurrence,
        rejection_reason,
        raw_record,
        loaded_at

    from (
        select
            source_file_name,
            source_row_key,
            rejection_reason,
            {{ raw_record_column }} as raw_record,
            loaded_at,
            row_number() over (
                partition by source_row_key
                order by source_row_key asc
            ) as occurrence

        from {{ base_relation }}

        where rejection_reason is not null
    ) as rejected
{%- endmacro %}
