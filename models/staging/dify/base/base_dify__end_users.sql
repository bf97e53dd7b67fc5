{{ config(**lpa_dify_incremental_config('end_users')) }}
{%- set end_user_type = lpa_normalise_enum('source.type') -%}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(end_user_type, 'end_user_type')],
        ['broken_reference', lpa_reference_resolves('source.app_id', 'apps.app_id')],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'end_users') }} as source
    where {{ lpa_dify_snapshot_in_batch('end_users') }}

),

apps as (

    select app_id from {{ ref('stg_dify__apps') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as end_user_id,
        lower(source.tenant_id) as tenant_id,
        lower(source.app_id) as app_id,
        source.external_user_id,
        source.session_id as end_user_session_id,

        ---------- strings
        {{ end_user_type }} as end_user_type,  -- legacy service_api becomes service-api
        source.name as end_user_name,

        ---------- booleans
        {{ lpa_to_boolean('source.is_anonymous') }} as is_anonymous,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('end_users', reason) }}

    from source

    left join apps
        on lower(source.app_id) = apps.app_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'end_user_id', 'updated_at') }}

)

select * from final
