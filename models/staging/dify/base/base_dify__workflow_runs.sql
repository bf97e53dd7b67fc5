{#- Workflow and chatflow runs. `graph` (a large snapshot of the workflow) is not staged. -#}
{{ config(**lpa_dify_incremental_config('workflow_runs')) }}
{%- set triggered_from = lpa_normalise_enum('source.triggered_from') -%}
{%- set created_by_role = lpa_normalise_creator_role('source.created_by_role') -%}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.type'), 'workflow_type')],
        ['unknown_enum', lpa_is_accepted(triggered_from, 'workflow_run_triggered_from')],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.status'), 'workflow_run_status')],
        ['unknown_enum', lpa_is_accepted(created_by_role, 'creator_role')],
        ['broken_reference', 'apps.app_id is not null'],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'workflow_runs') }} as source
    where {{ lpa_dify_snapshot_in_batch('workflow_runs') }}

),

apps as (

    select app_id from {{ ref('stg_dify__apps') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as workflow_run_id,
        lower(source.tenant_id) as tenant_id,
        lower(source.app_id) as app_id,
        lower(source.workflow_id) as workflow_id,
        lower(source.created_by) as created_by_id,

        ---------- strings
        {{ lpa_normalise_enum('source.type') }} as workflow_type,
        {{ triggered_from }} as triggered_from,
        source.version as workflow_version,
        source.inputs,
        source.outputs,
        {{ lpa_normalise_enum('source.status') }} as run_status,
        source.error as error_message,
        {{ created_by_role }} as created_by_role,

        ---------- numerics
        {{ lpa_to_double('source.elapsed_time') }} as elapsed_seconds,
        {{ lpa_to_bigint('source.total_tokens') }} as total_tokens,
        {{ lpa_to_bigint('source.total_steps') }} as total_steps,
        {{ lpa_to_bigint('source.exceptions_count') }} as exceptions_count,

        ---------- booleans
        coalesce(
            {{ triggered_from }} in ({{ lpa_sql_list(var('dify_internal_triggered_from')) }})
            or {{ created_by_role }} = 'account',
            false
        ) as is_internal_traffic,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.finished_at') }} as finished_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('workflow_runs', reason) }}

    from source

    left join apps
        on lower(source.app_id) = apps.app_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'workflow_run_id', 'finished_at') }}

)

select * from final
