{#- The person of each event of `relation` (int_events__unioned columns), in order: the
    event's own user_id; for an anonymous event, the user who owned its device at that moment
    (int_identity__device_owners); else the user behind its merged Amplitude id; else the
    device itself; Dify callers that are nobody's user_id are persons of their own. One
    definition for fct_events and int_events__changed (which re-resolves to find late
    re-attributions). -#}
{% macro lpa_resolved_person_select(relation, device_owners, amplitude_id_owners) -%}
    select
        in_scope.*,
        case
            when in_scope.user_id is not null
                then {{ lpa_person_id('user', 'in_scope.user_id') }}
            when device_owners.user_id is not null
                then {{ lpa_person_id('user', 'device_owners.user_id') }}
            when amplitude_id_owners.user_id is not null
                then {{ lpa_person_id('user', 'amplitude_id_owners.user_id') }}
            when in_scope.device_id is not null
                then {{ lpa_person_id('device', 'in_scope.device_id') }}
            when in_scope.dify_end_user_id is not null
                then {{ lpa_person_id('dify_end_user', 'in_scope.dify_end_user_id') }}
            when in_scope.dify_account_id is not null
                then {{ lpa_person_id('dify_account', 'in_scope.dify_account_id') }}
        end as person_id

    from {{ relation }} as in_scope

    left join {{ device_owners }} as device_owners
        on
            in_scope.user_id is null
            and in_scope.device_id = device_owners.device_id
            and (device_owners.valid_from is null or in_scope.event_at >= device_owners.valid_from)
            and (device_owners.valid_to is null or in_scope.event_at < device_owners.valid_to)

    left join {{ amplitude_id_owners }} as amplitude_id_owners
        on
            in_scope.user_id is null
            and in_scope.amplitude_id = amplitude_id_owners.amplitude_id
{%- endmacro %}

{#- Events fct_events covers: console and debugger traffic only with var
    include_internal_traffic. -#}
{% macro lpa_event_in_scope(internal_flag='is_internal_traffic') -%}
    {%- if var('include_internal_traffic') -%} true {%- else -%} not {{ internal_flag }} {%- endif -%}
{%- endmacro %}

{#- Out-of-session events (no Amplitude session, no Dify conversation) are sessionised by
    inactivity per person. -#}
{% macro lpa_is_loose_event(prefix='') -%}
    ({{ prefix }}amplitude_session_id is null and {{ prefix }}conversation_id is null)
{%- endmacro %}
