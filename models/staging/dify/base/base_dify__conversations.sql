{{ config(**lpa_dify_incremental_config('conversations')) }}
{%- set invoke_from = lpa_normalise_enum('source.invoke_from') -%}
{%- set from_source = lpa_normalise_enum('source.from_source') -%}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.mode'), 'app_mode')],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.status'), 'conversation_status')],
        ['unknown_enum', lpa_is_accepted(invoke_from, 'invoke_from', nullable=true)],
        ['unknown_enum', lpa_is_accepted(from_source, 'from_source')],
        ['broken_reference', 'apps.app_id is not null'],
        ['broken_reference', lpa_reference_resolves('source.from_end_user_id', 'end_users.end_user_id')],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'conversations') }} as source
    where {{ lpa_dify_snapshot_in_batch('conversations') }}

),

apps as (

    select app_id from {{ ref('stg_dify__apps') }}

),

end_users as (

    select end_user_id from {{ ref('stg_dify__end_users') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as conversation_id,
        lower(source.app_id) as app_id,
        lower(source.app_model_config_id) as app_model_config_id,
        lower(source.from_end_user_id) as from_end_user_id,
        lower(source.from_account_id) as from_account_id,
        lower(source.read_account_id) as read_account_id,

        ---------- strings
        {{ lpa_normalise_enum('source.mode') }} as app_mode,
        source.model_provider,
        source.model_id as model_name,
        source.override_model_configs,
        source.name as conversation_name,
        source.summary,
        source.inputs,
        source.introduction,
        source.system_instruction,
        {{ lpa_normalise_enum('source.status') }} as conversation_status,
        {{ invoke_from }} as invoke_from,
        {{ from_source }} as from_source,

        ---------- numerics
        {{ lpa_to_bigint('source.system_instruction_tokens') }} as system_instruction_tokens,
        {{ lpa_to_bigint('source.dialogue_count') }} as dialogue_count,

        ---------- booleans
        {{ lpa_to_boolean('source.is_deleted') }} as is_deleted,
        coalesce(
            {{ from_source }} = 'console'
            or {{ invoke_from }} in ({{ lpa_sql_list(var('dify_internal_invoke_from')) }}),
            false
        ) as is_internal_traffic,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.read_at') }} as read_at,
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('conversations', reason) }}

    from source

    left join apps
        on lower(source.app_id) = apps.app_id

    left join end_users
        on lower(source.from_end_user_id) = end_users.end_user_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'conversation_id', 'updated_at') }}

)

select * from final
