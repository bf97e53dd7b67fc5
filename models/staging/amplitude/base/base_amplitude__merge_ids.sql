{#- Parse and validate every merged-ids line. Accepts the S3 form (merge_time in epoch
    milliseconds) and the warehouse form (merge_event_time as a timestamp string). -#}
{%- set fields = lpa_amplitude_merge_id_fields() -%}
{%- set amplitude_id_expr = lpa_to_bigint(lpa_json_text('record', 'amplitude_id')) -%}
{%- set merged_id_expr = lpa_to_bigint(lpa_json_text('record', 'merged_amplitude_id')) -%}
{%- set rejection_reason_expr -%}
    case
        when record is null then 'invalid_json'
        when {{ amplitude_id_expr }} is null or {{ merged_id_expr }} is null
            then 'missing_amplitude_id'
    end
{%- endset -%}

with

source as (

    select * from {{ source('amplitude', 'merge_ids') }}

),

parsed as {{ lpa_materialized() }} (

    select
        _file_name,
        _line,
        _loaded_at,
        {{ lpa_parse_json_object('_line', fields) }} as record

    from source

),

typed as (

    select
        ---------- ids
        {{ amplitude_id_expr }} as amplitude_id,
        {{ merged_id_expr }} as merged_amplitude_id,
        {{ lpa_to_bigint(lpa_json_text('record', 'scope')) }} as amplitude_scope_id,

        ---------- timestamps (UTC)
        coalesce(
            {{ lpa_epoch_ms_to_timestamp(lpa_to_bigint(lpa_json_text('record', 'merge_time'))) }},
            {{ lpa_to_timestamp(lpa_json_text('record', 'merge_event_time')) }}
        ) as merged_at,
        coalesce(
            {{ lpa_epoch_ms_to_timestamp(
                lpa_to_bigint(lpa_json_text('record', 'merge_server_time'))
            ) }},
            {{ lpa_to_timestamp(lpa_json_text('record', 'merge_server_time')) }}
        ) as merge_server_at,

        ---------- quarantine and lineage
        {{ rejection_reason_expr }} as rejection_reason,
        case when ({{ rejection_reason_expr }}) is not null then _line end as rejected_line,
        _file_name as source_file_name,
        _loaded_at as loaded_at,
        {{ lpa_source_row_key('_file_name', '_line') }} as source_row_key

    from parsed

),

ranked as (

    -- An id is merged once: a repeated line (re-delivery) or a later conflicting merge of
    -- the same id is a duplicate. The earliest merge wins.
    select
        *,
        row_number() over (
            partition by rejection_reason, amplitude_id
            order by
                merged_at asc nulls last,
                merged_amplitude_id asc,
                source_file_name asc,
                source_row_key asc
        ) as amplitude_id_occurrence

    from typed

),

final as (

    select
        *,
        case
            when rejection_reason is null and amplitude_id_occurrence > 1 then 'amplitude_id'
        end as duplicate_type

    from ranked

)

select * from final
