{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
        ['broken_reference', 'apps.app_id is not null'],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'app_model_configs') }}

),

apps as (

    select app_id from {{ ref('stg_dify__apps') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as app_model_config_id,
        lower(source.app_id) as app_id,
        lower(source.created_by) as created_by_account_id,
        lower(source.updated_by) as updated_by_account_id,

        ---------- strings
        source.provider as model_provider,
        source.model_id as model_name,
        source.model as model_config,
        source.prompt_type,
        source.pre_prompt,
        source.chat_prompt_config,
        source.completion_prompt_config,
        source.opening_statement,
        source.user_input_form,
        source.agent_mode as agent_mode_config,
        source.dataset_configs,
        source.dataset_query_variable,
        source.external_data_tools,
        source.file_upload as file_upload_config,
        source.sensitive_word_avoidance as moderation_config,
        source.suggested_questions,
        source.suggested_questions_after_answer as suggested_questions_after_answer_config,
        source.speech_to_text as speech_to_text_config,
        source.text_to_speech as text_to_speech_config,
        source.more_like_this as more_like_this_config,
        source.retriever_resource as retriever_resource_config,
        source.configs as legacy_configs,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('app_model_configs', reason) }}

    from source

    left join apps
        on lower(source.app_id) = apps.app_id

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'app_model_config_id', 'updated_at') }}

)

select * from final
