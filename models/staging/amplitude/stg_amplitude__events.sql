{#- One row per real Amplitude event: valid, first copy of its uuid, not a client retry,
    and not an identify call (those are in stg_amplitude__identifies). -#}
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
        insert_key,
        schema_id,
        client_event_number,
        amplitude_id,
        user_id,
        device_id,
        session_id,
        amplitude_project_id,
        partner_id,
        source_id,
        adid,
        idfa,

        ---------- strings
        event_type,
        amplitude_event_type,
        data_type,
        platform,
        os_name,
        os_version,
        device_type,
        device_family,
        device_brand,
        device_manufacturer,
        device_model,
        device_carrier,
        country,
        region,
        city,
        dma,
        language_name,
        library,
        ip_address,
        version_name,
        start_version,

        ---------- numerics
        location_lat,
        location_lng,
        sample_rate,

        ---------- booleans
        is_paying,
        is_attribution_event,
        coalesce(session_id, -1) = -1 as is_out_of_session,

        ---------- json
        event_properties,
        user_properties,
        group_properties,
        group_types,
        global_user_properties,
        system_data,
        plan,
        amplitude_attribution_ids,

        ---------- timestamps (UTC)
        event_at,
        client_event_at,
        client_upload_at,
        server_received_at,
        server_upload_at,
        processed_at,
        user_created_at,

        ---------- lineage
        source_file_name,
        loaded_at,
        staged_at

    from base_events

    where
        rejection_reason is null
        and duplicate_type is null
        and event_type not in ({{ lpa_sql_list(var('amplitude_identify_event_types')) }})

)

select * from final
