{#- What an incremental build's changed events touch, before and after: one row per event
    whose fct_events row moved (its fingerprint differs, or it is new or gone) and version
    (prior = as fct_events held it, current = as rebuilt), the Dify messages the batch
    (re)staged or whose feedback it (re)staged, and the devices of identify calls in the
    batch window. Incremental models delete and recompute their rows for these persons,
    sessions, messages and identifiers (empty on a full build). -#}
-- depends_on: {{ ref('int_events__changed') }}, {{ ref('fct_events') }}
-- depends_on: {{ ref('stg_amplitude__identifies') }}, {{ ref('int_events__batch_window') }}
-- depends_on: {{ ref('base_dify__messages') }}, {{ ref('base_dify__message_feedbacks') }}
{{ config(tags=['lpa_batch_scope']) }}

with

{% if lpa_is_batch_build() %}

    changed as (

        select * from {{ ref('int_events__changed') }}

    ),

    events as (

        select * from {{ ref('fct_events') }}

    ),

    identifies as (

        select * from {{ ref('stg_amplitude__identifies') }}

    ),

    current_rows as (

        -- The rewritten events as fct_events holds them now; moved: new, or its fingerprint
        -- differs from the prior row's.
        select
            events.event_id,
            events.person_id,
            events.session_key,
            events.message_id,
            events.user_id,
            events.device_id,
            events.amplitude_id,
            events.event_date,
            (
                changed.prior_row_hash is null
                or {{ lpa_event_row_hash('events') }} != changed.prior_row_hash
            ) as is_moved
        from events
        inner join changed
            on events.event_id = changed.event_id

    ),

    prior_versions as (

        -- Rows that moved or are gone (a rewritten row equal to its prior one touches
        -- nothing: the window is rebuilt, but most of it comes out the same).
        select
            'prior' as event_version,
            changed.event_id,
            changed.prior_person_id as person_id,
            changed.prior_session_key as session_key,
            changed.prior_message_id as message_id,
            changed.prior_user_id as user_id,
            changed.prior_device_id as device_id,
            changed.prior_amplitude_id as amplitude_id,
            changed.prior_event_date as event_date
        from changed
        left join current_rows
            on changed.event_id = current_rows.event_id
        where
            changed.prior_person_id is not null
            and (current_rows.event_id is null or current_rows.is_moved)

    ),

    current_versions as (

        select
            'current' as event_version,
            event_id,
            person_id,
            session_key,
            message_id,
            user_id,
            device_id,
            amplitude_id,
            event_date
        from current_rows
        where is_moved

    ),

    restaged_messages as (

        -- fct_llm_messages also reads the Dify message and feedback rows, which can change
        -- without moving an event. A Dify base model restages exactly the rows that are new,
        -- changed or re-checked (macros/incremental/dify.sql), so those are the messages.
        {%- set last_build_at = lpa_last_build_at() %}
        {{ lpa_restaged_values('base_dify__messages', 'message_id', last_build_at) }}
        union
        {{ lpa_restaged_values('base_dify__message_feedbacks', 'message_id', last_build_at) }}

    ),

    restaged_message_rows as (

        select
            'message' as event_version,
            cast(null as {{ dbt.type_string() }}) as event_id,
            cast(null as {{ dbt.type_string() }}) as person_id,
            cast(null as {{ dbt.type_string() }}) as session_key,
            message_id,
            cast(null as {{ dbt.type_string() }}) as user_id,
            cast(null as {{ dbt.type_string() }}) as device_id,
            cast(null as bigint) as amplitude_id,
            cast(null as date) as event_date
        from restaged_messages

    ),

    identified_devices as (

        -- An identify call can move a device's owner intervals without any event changing.
        select
            'identify' as event_version,
            cast(null as {{ dbt.type_string() }}) as event_id,
            cast(null as {{ dbt.type_string() }}) as person_id,
            cast(null as {{ dbt.type_string() }}) as session_key,
            cast(null as {{ dbt.type_string() }}) as message_id,
            cast(null as {{ dbt.type_string() }}) as user_id,
            device_id,
            cast(null as bigint) as amplitude_id,
            min({{ lpa_reporting_date('event_at') }}) as event_date
        from identifies
        where
            device_id is not null
            and {{ lpa_reporting_date('event_at') }}
            >= (
                select batch_window.cutoff_date
                from {{ ref('int_events__batch_window') }} as batch_window
            )
        group by device_id  -- noqa: AM06

    ),

    unioned as (

        select * from prior_versions
        union all
        select * from current_versions
        union all
        select * from restaged_message_rows
        union all
        select * from identified_devices

    ),

    final as (

        select
            {{ dbt.hash(dbt.concat([
                'event_version', "'|'", 'coalesce(event_id, device_id, message_id)'
            ])) }} as changed_key_id,
            *
        from unioned

    )

{% else %}

    final as (

        select
            cast(null as {{ dbt.type_string() }}) as changed_key_id,
            cast(null as {{ dbt.type_string() }}) as event_version,
            cast(null as {{ dbt.type_string() }}) as event_id,
            cast(null as {{ dbt.type_string() }}) as person_id,
            cast(null as {{ dbt.type_string() }}) as session_key,
            cast(null as {{ dbt.type_string() }}) as message_id,
            cast(null as {{ dbt.type_string() }}) as user_id,
            cast(null as {{ dbt.type_string() }}) as device_id,
            cast(null as bigint) as amplitude_id,
            cast(null as date) as event_date

        where false

    )

{% endif %}

select * from final
