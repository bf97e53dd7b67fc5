{{ config(**lpa_dify_incremental_config('message_feedbacks')) }}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.rating'), 'feedback_rating')],
        ['unknown_enum', lpa_is_accepted(lpa_normalise_enum('source.from_source'), 'feedback_from_source')],
        ['broken_reference', 'messages.message_id is not null'],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'message_feedbacks') }} as source
    where {{ lpa_dify_snapshot_in_batch('message_feedbacks') }}

),

messages as (

    select message_id from {{ ref('stg_dify__messages') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as message_feedback_id,
        lower(source.app_id) as app_id,
        lower(source.conversation_id) as conversation_id,
        lower(source.message_id) as message_id,
        lower(source.from_end_user_id) as from_end_user_id,
        lower(source.from_account_id) as from_account_id,

        ---------- strings
        {{ lpa_normalise_enum('source.rating') }} as rating,
        source.content as feedback_content,
        {{ lpa_normalise_enum('source.from_source') }} as from_source,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('message_feedbacks', reason) }}

    from source

    left join messages
        on lower(source.message_id) = messages.message_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'message_feedback_id', 'updated_at') }}

)

select * from final
