{#- What an incremental build's changed events touch, before and after: one row per changed
    event and version (prior = as fct_events held it, current = as rebuilt), plus the devices
    of identify calls in the batch window. Incremental models delete and recompute their rows
    for these persons, sessions, messages and identifiers (empty on a full build). -#}
-- depends_on: {{ ref('int_events__changed') }}, {{ ref('fct_events') }}
-- depends_on: {{ ref('stg_amplitude__identifies') }}, {{ ref('int_events__batch_window') }}
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

    prior_versions as (

        select
            'prior' as event_version,
            event_id,
            prior_person_id as person_id,
            prior_session_key as session_key,
            prior_message_id as message_id,
            prior_user_id as user_id,
            prior_device_id as device_id,
            prior_amplitude_id as amplitude_id,
            prior_event_date as event_date
        from changed
        where prior_person_id is not null

    ),

    current_versions as (

        select
            'current' as event_version,
            events.event_id,
            events.person_id,
            events.session_key,
            events.message_id,
            events.user_id,
            events.device_id,
            events.amplitude_id,
            events.event_date
        from events
        inner join changed
            on events.event_id = changed.event_id

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
        select * from identified_devices

    ),

    final as (

        select
            {{ dbt.hash(dbt.concat(['event_version', "'|'", 'coalesce(event_id, device_id)'])) }}
                as changed_key_id,
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
