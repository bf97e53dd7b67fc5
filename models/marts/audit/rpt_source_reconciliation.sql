{#- Nothing is lost: for every source table, raw rows = staged + duplicates removed +
    rejected. Base models keep exactly one row per raw row (a singular test checks that against
    the sources), so they stand in for the raw counts here. -#}
{%- set tables = [
    ['amplitude', 'events', 'base_amplitude__events',
        ['stg_amplitude__events', 'stg_amplitude__identifies'], 'stg_amplitude__rejected_rows'],
    ['amplitude', 'merge_ids', 'base_amplitude__merge_ids',
        ['stg_amplitude__merged_ids'], 'stg_amplitude__rejected_rows'],
] -%}
{%- for table in ['apps', 'app_model_configs', 'accounts', 'end_users', 'conversations',
                  'messages', 'message_feedbacks', 'workflow_runs', 'workflow_app_logs'] -%}
    {%- do tables.append(['dify', table, 'base_dify__' ~ table, ['stg_dify__' ~ table],
                          'stg_dify__rejected_rows']) -%}
{%- endfor -%}

with

{% for source_name, table, base, staged_models, rejected in tables %}
    {{ source_name }}_{{ table }} as (

        select
            '{{ source_name }}' as source_name,
            '{{ table }}' as source_table,
            (select count(*) from {{ ref(base) }}) as source_rows,
            (
                {%- for staged in staged_models %}
                    (select count(*) from {{ ref(staged) }}){{ " +" if not loop.last }}
                {%- endfor %}
            ) as staged_rows,
            (
                select count(*) from {{ ref(base) }}
                where duplicate_type is not null
            ) as duplicate_rows,
            (
                select count(*) from {{ ref(rejected) }}
                where source_table = '{{ table }}'
            ) as rejected_rows

    ),

{% endfor %}
unioned as (

    {% for source_name, table, base, staged_models, rejected in tables -%}
        select * from {{ source_name }}_{{ table }}
        {% if not loop.last %}union all
        {% endif %}
    {%- endfor %}

),

final as (

    select
        {{ dbt.concat(['source_name', "'.'", 'source_table']) }} as source_table_id,
        source_name,
        source_table,
        source_rows,
        staged_rows,
        duplicate_rows,
        rejected_rows,
        source_rows = staged_rows + duplicate_rows + rejected_rows as is_reconciled

    from unioned

)

select * from final
