{#- Dify messages, one per turn. The row is inserted at request start and updated at the end,
    so a message still generating has an empty answer and zero tokens; kept as delivered. -#}
{{ config(**lpa_dify_incremental_config('messages')) }}
{%- set invoke_from = lpa_normalise_enum('source.invoke_from') -%}
{%- set from_source = lpa_normalise_enum('source.from_source') -%}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.status'), 'message_status')],
        ['unknown_enum', lpa_is_accepted(invoke_from, 'invoke_from', nullable=true)],
        ['unknown_enum', lpa_is_accepted(from_source, 'from_source')],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.app_mode'), 'app_mode', nullable=true)],
        ['broken_reference', 'apps.app_id is not null'],
        ['broken_reference', 'conversations.conversation_id is not null'],
        ['broken_reference', lpa_reference_resolves('source.from_end_user_id', 'end_users.end_user_id')],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'messages') }} as source
    where {{ lpa_dify_snapshot_in_batch('messages') }}

),

apps as (

    select app_id from {{ ref('stg_dify__apps') }}

),

conversations as (

    select conversation_id from {{ ref('stg_dify__conversations') }}

),

end_users as (

    select end_user_id from {{ ref('stg_dify__end_users') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as message_id,
        lower(source.app_id) as app_id,
        lower(source.conversation_id) as conversation_id,
        lower(source.parent_message_id) as parent_message_id,
        lower(source.workflow_run_id) as workflow_run_id,
        lower(source.from_end_user_id) as from_end_user_id,
        lower(source.from_account_id) as from_account_id,

        ---------- strings
        source.model_provider,
        source.model_id as model_name,
        source.override_model_configs,
        source.inputs,
        source.query,
        source.message as prompt_messages,
        source.answer,
        {{ lpa_normalise_enum('source.status') }} as message_status,
        source.error as error_message,
        source.message_metadata,
        {{ invoke_from }} as invoke_from,
        {{ from_source }} as from_source,
        {{ lpa_normalise_enum('source.app_mode') }} as app_mode,
        source.currency,

        ---------- numerics
        {{ lpa_to_bigint('source.message_tokens') }} as message_tokens,
        {{ lpa_to_bigint('source.answer_tokens') }} as answer_tokens,
        {{ lpa_to_decimal('source.message_unit_price') }} as message_unit_price,
        {{ lpa_to_decimal('source.message_price_unit') }} as message_price_unit,
        {{ lpa_to_decimal('source.answer_unit_price') }} as answer_unit_price,
        {{ lpa_to_decimal('source.answer_price_unit') }} as answer_price_unit,
        {{ lpa_to_decimal('source.total_price') }} as total_price,
        {{ lpa_to_double('source.provider_response_latency') }}
            as provider_response_latency_seconds,

        ---------- booleans
        {{ lpa_to_boolean('source.agent_based') }} as is_agent_based,
        coalesce(
            {{ from_source }} = 'console'
            or {{ invoke_from }} in ({{ lpa_sql_list(var('dify_internal_invoke_from')) }}),
            false
        ) as is_internal_traffic,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('messages', reason) }}

    from source

    left join apps
        on lower(source.app_id) = apps.app_id

    left join conversations
        on lower(source.conversation_id) = conversations.conversation_id

    left join end_users
        on lower(source.from_end_user_id) = end_users.end_user_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'message_id', 'updated_at') }}

)

select * from final
