{#- Quarantine: every Amplitude line that could not be staged, with its file and reason.
    Reasons: invalid_json, missing_event_type, missing_event_time, invalid_event_time,
    missing_identity, missing_uuid (events); invalid_json, missing_amplitude_id (merge ids). -#}
with

rejected_events as (

    {{ lpa_rejected_rows(ref('base_amplitude__events'), 'events', 'rejected_line') }}

),

rejected_merge_ids as (

    {{ lpa_rejected_rows(ref('base_amplitude__merge_ids'), 'merge_ids', 'rejected_line') }}

),

unioned as (

    select * from rejected_events
    union all
    select * from rejected_merge_ids

)

select * from unioned
