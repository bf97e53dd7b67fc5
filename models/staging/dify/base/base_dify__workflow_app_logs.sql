{{ config(**lpa_dify_incremental_config('workflow_app_logs')) }}
{%- set created_by_role = lpa_normalise_creator_role('source.created_by_role') -%}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.created_from'), 'workflow_app_log_created_from')],
        ['unknown_enum', lpa_is_accepted(created_by_role, 'creator_role')],
        ['broken_reference', 'workflow_runs.workflow_run_id is not null'],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'workflow_app_logs') }} as source
    where {{ lpa_dify_snapshot_in_batch('workflow_app_logs') }}

),

workflow_runs as (

    select workflow_run_id from {{ ref('stg_dify__workflow_runs') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as workflow_app_log_id,
        lower(source.tenant_id) as tenant_id,
        lower(source.app_id) as app_id,
        lower(source.workflow_id) as workflow_id,
        lower(source.workflow_run_id) as workflow_run_id,
        lower(source.created_by) as created_by_id,

        ---------- strings
        {{ lpa_normalise_enum('source.created_from') }} as created_from,
        {{ created_by_role }} as created_by_role,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('workflow_app_logs', reason) }}

    from source

    left join workflow_runs
        on lower(source.workflow_run_id) = workflow_runs.workflow_run_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'workflow_app_log_id', 'created_at') }}

)

select * from final
