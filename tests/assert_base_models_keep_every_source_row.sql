{#- Base models must be one row per raw row: no filter, no join fan-out. Returns the tables
    where the counts differ. -#}
{%- set pairs = [
    ['amplitude', 'events', 'base_amplitude__events'],
    ['amplitude', 'merge_ids', 'base_amplitude__merge_ids'],
] -%}
{%- for table in ['apps', 'app_model_configs', 'accounts', 'end_users', 'conversations',
                  'messages', 'message_feedbacks', 'workflow_runs', 'workflow_app_logs'] -%}
    {%- do pairs.append(['dify', table, 'base_dify__' ~ table]) -%}
{%- endfor -%}

with

counts as (

    {% for source_name, table, base in pairs -%}
        select
            '{{ source_name }}.{{ table }}' as source_table,
            (select count(*) from {{ source(source_name, table) }}) as source_rows,
            (select count(*) from {{ ref(base) }}) as base_rows
        {% if not loop.last %}union all
        {% endif %}
    {%- endfor %}

)

select * from counts
where source_rows != base_rows
