{#- One row per real event from Amplitude and Dify, with its person. Person resolution, in
    order: the event's own user_id; for an anonymous event, the user who owned its device at
    that moment (int_identity__device_owners); else the user behind its merged Amplitude id;
    else the device itself; Dify callers that are nobody's user_id (browser visitors, shared
    ids) are persons of their own. Console and debugger traffic is left out unless var
    include_internal_traffic. -#}
{%- set inactivity_seconds = var('session_inactivity_minutes') * 60 -%}

with

events as (

    select * from {{ ref('int_events__unioned') }}

),

device_owners as (

    select * from {{ ref('int_identity__device_owners') }}

),

amplitude_id_owners as (

    select * from {{ ref('int_identity__amplitude_id_owners') }}

),

in_scope as (

    select * from events
    {% if not var('include_internal_traffic') -%}
        where not is_internal_traffic
    {%- endif %}

),

resolved as (

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

    from in_scope

    left join device_owners
        on
            in_scope.user_id is null
            and in_scope.device_id = device_owners.device_id
            and (device_owners.valid_from is null or in_scope.event_at >= device_owners.valid_from)
            and (device_owners.valid_to is null or in_scope.event_at < device_owners.valid_to)

    left join amplitude_id_owners
        on
            in_scope.user_id is null
            and in_scope.amplitude_id = amplitude_id_owners.amplitude_id

),

gaps as (

    -- Sessions: Amplitude's own session id per device; a Dify conversation; otherwise
    -- (out-of-session server events, workflow runs) a new session after var
    -- session_inactivity_minutes without an event of that person.
    select
        *,
        case
            when amplitude_session_id is null and conversation_id is null
                then lag(event_at) over (
                    partition by
                        person_id,
                        amplitude_session_id is null and conversation_id is null
                    order by event_at asc, event_id asc
                )
        end as previous_loose_event_at

    from resolved

),

loose_sessions as (

    select
        *,
        max(
            case
                when
                    amplitude_session_id is null and conversation_id is null
                    and (
                        previous_loose_event_at is null
                        or {{ dbt.datediff('previous_loose_event_at', 'event_at', 'second') }}
                        > {{ inactivity_seconds }}
                    )
                    then event_at
            end
        ) over (
            partition by person_id, amplitude_session_id is null and conversation_id is null
            order by event_at asc, event_id asc
            rows between unbounded preceding and current row
        ) as loose_session_started_at

    from gaps

),

final as (

    select
        ---------- ids
        event_id,
        person_id,
        user_id,
        device_id,
        amplitude_id,
        case
            when amplitude_session_id is not null
                then {{ dbt.hash(dbt.concat([
                    "'amplitude|'", "coalesce(device_id, '')", "'|'",
                    dbt.cast('amplitude_session_id', dbt.type_string())
                ])) }}
            when conversation_id is not null
                then {{ dbt.hash(dbt.concat(["'dify_conversation|'", 'conversation_id'])) }}
            else {{ dbt.hash(dbt.concat([
                "'inactivity|'", 'person_id', "'|'",
                dbt.cast('loose_session_started_at', dbt.type_string())
            ])) }}
        end as session_key,
        case
            when amplitude_session_id is not null then 'amplitude_session'
            when conversation_id is not null then 'dify_conversation'
            else 'inactivity'
        end as session_type,
        app_id,
        conversation_id,
        message_id,
        workflow_run_id,
        prompt_version_id,

        ---------- strings
        source,
        event_name,
        raw_event_name,
        platform,
        country,
        {{ lpa_pii_json('properties') }} as properties,
        model_provider,
        model_name,
        currency,
        status,
        {{ lpa_pii_redact('error') }} as error,

        ---------- numerics
        input_tokens,
        output_tokens,
        total_tokens,
        latency_ms,
        cost,
        rating,
        user_rating,

        ---------- booleans
        is_mapped as is_event_name_mapped,
        is_internal_traffic,

        ---------- dates and timestamps
        event_at,
        {{ lpa_reporting_date('event_at') }} as event_date

    from loose_sessions

)

select * from final
