{#- Quarantine: every Dify row that could not be staged, with its file, reason and the raw
    row as JSON text. Reasons: invalid_id, invalid_timestamp, unknown_enum, broken_reference. -#}
{%- set tables = ['apps', 'app_model_configs', 'accounts', 'end_users', 'conversations',
                  'messages', 'message_feedbacks', 'workflow_runs', 'workflow_app_logs'] -%}

with

{% for table in tables %}
    rejected_{{ table }} as (

        {{ lpa_rejected_rows(ref('base_dify__' ~ table), table, 'rejected_record') }}

    ),

{% endfor %}
unioned as (

    {% for table in tables -%}
        select * from rejected_{{ table }}
        {% if not loop.last %}union all
        {% endif %}
    {%- endfor %}

)

select * from unioned
