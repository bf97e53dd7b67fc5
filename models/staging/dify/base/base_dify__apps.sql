{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.mode'), 'app_mode')],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'apps') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as app_id,
        lower(source.tenant_id) as tenant_id,
        lower(source.app_model_config_id) as app_model_config_id,
        lower(source.workflow_id) as workflow_id,
        lower(source.created_by) as created_by_account_id,
        lower(source.updated_by) as updated_by_account_id,

        ---------- strings
        source.name as app_name,
        source.description as app_description,
        {{ lpa_normalise_enum('source.mode') }} as app_mode,
        source.icon_type,
        source.status as app_status,
        source.tracing as tracing_config,

        ---------- numerics
        {{ lpa_to_bigint('source.api_rpm') }} as api_rpm,
        {{ lpa_to_bigint('source.api_rph') }} as api_rph,
        {{ lpa_to_bigint('source.max_active_requests') }} as max_active_requests,

        ---------- booleans
        {{ lpa_to_boolean('source.enable_site') }} as is_site_enabled,
        {{ lpa_to_boolean('source.enable_api') }} as is_api_enabled,
        {{ lpa_to_boolean('source.is_demo') }} as is_demo,
        {{ lpa_to_boolean('source.is_public') }} as is_public,
        {{ lpa_to_boolean('source.is_universal') }} as is_universal,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('apps', reason) }}

    from source

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'app_id', 'updated_at') }}

)

select * from final
