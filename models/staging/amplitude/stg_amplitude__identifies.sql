{#- Identify calls ($identify, $groupidentify): they set user or group properties and link a
    device to a user, but are not user actions, so they stay out of the event stream. -#}
{#- A view: base_amplitude__events is already a table, and each consumer reads only the
    columns it needs (no second copy of every event to write on each build). -#}
{{ config(materialized='view') }}
with

base_events as (

    select * from {{ ref('base_amplitude__events') }}

),

final as (

    select
        ---------- ids
        amplitude_event_id,
        insert_id,
        amplitude_id,
        user_id,
        device_id,
        session_id,
        amplitude_project_id,

        ---------- strings
        event_type,
        platform,
        library,

        ---------- json
        user_properties,
        group_types,
        group_properties,

        ---------- timestamps (UTC)
        event_at,
        server_upload_at,

        ---------- lineage
        source_file_name,
        loaded_at

    from base_events

    where
        rejection_reason is null
        and duplicate_type is null
        and event_type in ({{ lpa_sql_list(var('amplitude_identify_event_types')) }})

)

select * from final
