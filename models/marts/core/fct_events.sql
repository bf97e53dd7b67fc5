{#- One row per real event from Amplitude and Dify, with its person (lpa_resolved_person_select:
    own user_id, else the device's owner at that moment, else the merged Amplitude id's user,
    else the device or Dify caller itself). Console and debugger traffic is left out unless
    var include_internal_traffic. Incremental: a batch rewrites the events in
    int_events__changed (late data, late re-attributions, the loose sessions they reach). -#}
-- depends_on: {{ ref('int_events__changed') }}
{{ config(**lpa_incremental_by('event_id', scope='int_events__changed')) }}
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
    where
        {{ lpa_event_in_scope() }}
        and {{ lpa_in_batch('event_id', scope='int_events__changed') }}

),

resolved as (

    {{ lpa_resolved_person_select('in_scope', 'device_owners', 'amplitude_id_owners') }}

),

gaps as (

    -- Sessions: Amplitude's own session id per device; a Dify conversation; otherwise
    -- (out-of-session server events, workflow runs) a new session after var
    -- session_inactivity_minutes without an event of that person.
    select
        *,
        case
            when {{ lpa_is_loose_event() }}
                then lag(event_at) over (
                    partition by
                        person_id,
                        {{ lpa_is_loose_event() }}
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
                    {{ lpa_is_loose_event() }}
                    and (
                        previous_loose_event_at is null
                        or {{ dbt.datediff('previous_loose_event_at', 'event_at', 'second') }}
                        > {{ inactivity_seconds }}
                    )
                    then event_at
            end
        ) over (
            partition by person_id, {{ lpa_is_loose_event() }}
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
{{ lpa_storage_order('event_at') }}
