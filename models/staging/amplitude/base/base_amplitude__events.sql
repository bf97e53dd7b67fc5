{#- Parse, type, validate and flag duplicates of every raw Amplitude line, once. Nothing is
    dropped here: stg_amplitude__events, stg_amplitude__identifies and
    stg_amplitude__rejected_rows each take their share, and the shares add up to the source.
    Incremental by file: a build parses only the files not staged yet, and re-ranks the kept
    rows that share a uuid or a device and insert_id with them (their duplicate flags may
    move); rows rewritten by a build carry its start as staged_at. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='source_row_key',
    on_schema_change='append_new_columns'
) }}
{%- set fields = lpa_amplitude_event_fields() -%}
{%- set dedup_days = var('amplitude_insert_id_dedup_days') -%}
{#- The fields validation needs, as expressions, so the reason is computed in the same pass. -#}
{%- set event_id_expr = lpa_nullif_blank(lpa_json_text('record', 'uuid')) -%}
{%- set event_type_expr = lpa_nullif_blank(lpa_json_text('record', 'event_type')) -%}
{%- set event_time_expr = lpa_nullif_blank(lpa_json_text('record', 'event_time')) -%}
{%- set user_id_expr = lpa_nullif_blank(lpa_json_text('record', 'user_id')) -%}
{%- set device_id_expr = lpa_nullif_blank(lpa_json_text('record', 'device_id')) -%}
{%- set rejection_reason_expr -%}
    case
        when record is null then 'invalid_json'
        when {{ event_type_expr }} is null then 'missing_event_type'
        when {{ event_time_expr }} is null then 'missing_event_time'
        when {{ lpa_to_timestamp(event_time_expr) }} is null then 'invalid_event_time'
        when {{ user_id_expr }} is null and {{ device_id_expr }} is null then 'missing_identity'
        when {{ event_id_expr }} is null then 'missing_uuid'
    end
{%- endset -%}

with

source as (

    {% if is_incremental() -%}
        {{ lpa_unstaged_amplitude_lines(source('amplitude', 'events'), this) }}
    {%- else -%}
        select * from {{ source('amplitude', 'events') }}
    {%- endif %}

),

parsed as {{ lpa_materialized() }} (

    select
        _file_name,
        _line,
        _loaded_at,
        {{ lpa_parse_json_object('_line', fields) }} as record

    from source

),

typed as {% if is_incremental() %}materialized {% endif %}(

    select
        ---------- ids
        {{ event_id_expr }} as amplitude_event_id,
        {{ lpa_nullif_blank(lpa_json_text('record', '$insert_id')) }} as insert_id,
        {{ lpa_json_text('record', '$insert_key') }} as insert_key,
        {{ lpa_to_bigint(lpa_json_text('record', '$schema')) }} as schema_id,
        {{ lpa_to_bigint(lpa_json_text('record', 'event_id')) }} as client_event_number,
        {{ lpa_to_bigint(lpa_json_text('record', 'amplitude_id')) }} as amplitude_id,
        {{ user_id_expr }} as user_id,
        {{ device_id_expr }} as device_id,
        {{ lpa_to_bigint(lpa_json_text('record', 'session_id')) }} as session_id,
        {{ lpa_to_bigint(lpa_json_text('record', 'app')) }} as amplitude_project_id,
        {{ lpa_json_text('record', 'partner_id') }} as partner_id,
        {{ lpa_json_text('record', 'source_id') }} as source_id,
        {{ lpa_json_text('record', 'adid') }} as adid,
        {{ lpa_json_text('record', 'idfa') }} as idfa,

        ---------- strings
        {{ event_type_expr }} as event_type,
        {{ lpa_json_text('record', 'amplitude_event_type') }} as amplitude_event_type,
        {{ lpa_json_text('record', 'data_type') }} as data_type,
        {{ lpa_json_text('record', 'platform') }} as platform,
        {{ lpa_json_text('record', 'os_name') }} as os_name,
        {{ lpa_json_text('record', 'os_version') }} as os_version,
        {{ lpa_json_text('record', 'device_type') }} as device_type,
        {{ lpa_json_text('record', 'device_family') }} as device_family,
        {{ lpa_json_text('record', 'device_brand') }} as device_brand,
        {{ lpa_json_text('record', 'device_manufacturer') }} as device_manufacturer,
        {{ lpa_json_text('record', 'device_model') }} as device_model,
        {{ lpa_json_text('record', 'device_carrier') }} as device_carrier,
        {{ lpa_json_text('record', 'country') }} as country,
        {{ lpa_json_text('record', 'region') }} as region,
        {{ lpa_json_text('record', 'city') }} as city,
        {{ lpa_json_text('record', 'dma') }} as dma,
        {{ lpa_json_text('record', 'language') }} as language_name,
        {{ lpa_json_text('record', 'library') }} as library,
        {{ lpa_json_text('record', 'ip_address') }} as ip_address,
        {{ lpa_json_text('record', 'version_name') }} as version_name,
        {{ lpa_json_text('record', 'start_version') }} as start_version,

        ---------- numerics
        {{ lpa_to_double(lpa_json_text('record', 'location_lat')) }} as location_lat,
        {{ lpa_to_double(lpa_json_text('record', 'location_lng')) }} as location_lng,
        {{ lpa_to_double(lpa_json_text('record', 'sample_rate')) }} as sample_rate,

        ---------- booleans
        {{ lpa_to_boolean(lpa_json_text('record', 'paying')) }} as is_paying,
        {{ lpa_to_boolean(lpa_json_text('record', 'is_attribution_event')) }}
            as is_attribution_event,

        ---------- json
        {{ lpa_json_value('record', 'event_properties') }} as event_properties,
        {{ lpa_json_value('record', 'user_properties') }} as user_properties,
        {{ lpa_json_value('record', 'group_properties') }} as group_properties,
        {{ lpa_json_value('record', 'groups') }} as group_types,
        {{ lpa_json_value('record', 'global_user_properties') }} as global_user_properties,
        {{ lpa_json_value('record', 'data') }} as system_data,
        {{ lpa_json_value('record', 'plan') }} as plan,
        {{ lpa_json_value('record', 'amplitude_attribution_ids') }} as amplitude_attribution_ids,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp(lpa_json_text('record', 'event_time')) }} as event_at,
        {{ lpa_to_timestamp(lpa_json_text('record', 'client_event_time')) }} as client_event_at,
        {{ lpa_to_timestamp(lpa_json_text('record', 'client_upload_time')) }} as client_upload_at,
        {{ lpa_to_timestamp(lpa_json_text('record', 'server_received_time')) }}
            as server_received_at,
        {{ lpa_to_timestamp(lpa_json_text('record', 'server_upload_time')) }} as server_upload_at,
        {{ lpa_to_timestamp(lpa_json_text('record', 'processed_time')) }} as processed_at,
        {{ lpa_to_timestamp(lpa_json_text('record', 'user_creation_time')) }} as user_created_at,

        ---------- quarantine and lineage
        {{ rejection_reason_expr }} as rejection_reason,
        case when ({{ rejection_reason_expr }}) is not null then _line end as rejected_line,
        _file_name as source_file_name,
        _loaded_at as loaded_at,
        {{ lpa_build_started_at() }} as staged_at,
        {{ lpa_source_row_key('_file_name', '_line') }} as source_row_key

    from parsed

),

{% if is_incremental() -%}
    {%- set derived = ['uuid_occurrence', 'previous_attempt_received_at', 'duplicate_type'] -%}
    {%- set kept_columns = [] -%}
{%- for column in adapter.get_columns_in_relation(this)
    if column.name | lower not in derived -%}
        {%- do kept_columns.append(column.name | lower) -%}
    {%- endfor %}

    new_pairs as (

        -- (A null device is a partition of its own in the retry check, hence the coalesce.)
        select distinct
            coalesce(device_id, '') as device_key,
            insert_id
        from typed
        where insert_id is not null

    ),

    kept_index as (

        -- Narrow columns of the kept rows: the matches below are joins on these, never a
        -- correlated test per kept row (which would carry every wide column along).
        select
            source_row_key,
            amplitude_event_id,
            coalesce(device_id, '') as device_key,
            insert_id
        from {{ this }}

    ),

    kept_matches as (

        -- Kept rows whose uuid, or device and insert_id, a new row shares.
        select kept_index.* from kept_index
        where
            kept_index.amplitude_event_id in (
                select typed.amplitude_event_id from typed
                where typed.amplitude_event_id is not null
            )
        union
        select kept_index.* from kept_index
        inner join new_pairs
            on
                kept_index.device_key = new_pairs.device_key
                and kept_index.insert_id = new_pairs.insert_id

    ),

    kept_pairs as (

        select distinct
            device_key,
            insert_id
        from kept_matches
        where insert_id is not null

    ),

    kept_rerank as (

        -- ...and the kept rows that share a uuid or a pair with those (their partitions).
        select kept_index.source_row_key from kept_index
        where
            kept_index.amplitude_event_id in (
                select kept_matches.amplitude_event_id from kept_matches
                where kept_matches.amplitude_event_id is not null
            )
        union
        select kept_index.source_row_key from kept_index
        inner join kept_pairs
            on
                kept_index.device_key = kept_pairs.device_key
                and kept_index.insert_id = kept_pairs.insert_id

    ),

    candidates as (

        select * from typed
        union all
        select
        {%- for column in kept_columns %}
                {% if column == 'staged_at' %}{{ lpa_build_started_at() }} as staged_at
                {%- else %}kept.{{ column }}{% endif %}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ this }} as kept
        where kept.source_row_key in (select kept_rerank.source_row_key from kept_rerank)

    ),
{%- else %}

    candidates as (

        select * from typed

    ),
{%- endif %}

uuid_ranked as (

    -- Same uuid = the same stored row delivered again (backfills, overlapping exports).
    -- Rejected rows get their own partition so they never win over a valid copy; a line
    -- without a uuid is the first of its own.
    select
        *,
        case
            when amplitude_event_id is null then 1
            else row_number() over (
                partition by rejection_reason, amplitude_event_id
                order by
                    server_upload_at asc nulls last,
                    source_file_name asc,
                    source_row_key asc
            )
        end as uuid_occurrence

    from candidates

),

retries_checked as (

    -- Same insert_id on the same device within the dedup window = a client retry that
    -- Amplitude's own ingestion would have dropped.
    select
        *,
        case
            when insert_id is not null
                then lag(server_received_at) over (
                    partition by rejection_reason, uuid_occurrence = 1, device_id, insert_id
                    order by
                        server_received_at asc nulls last,
                        amplitude_event_id asc
                )
        end as previous_attempt_received_at

    from uuid_ranked

),

final as (

    select
        *,
        case
            when rejection_reason is not null then null
            when uuid_occurrence > 1 then 'uuid'
            when
                insert_id is not null
                and previous_attempt_received_at
                >= {{ dbt.dateadd('day', -dedup_days, 'server_received_at') }}
                then 'insert_id'
        end as duplicate_type

    from retries_checked

)

select * from final
