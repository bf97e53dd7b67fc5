{#- Upstream column lists of the Dify tables (docs/input-contract.md), in upstream order. -#}
{% macro lpa_dify_columns(table) -%}
    {%- set columns = {
        'apps': 'id, tenant_id, name, description, mode, icon_type, icon, icon_background, app_model_config_id, workflow_id, status, enable_site, enable_api, api_rpm, api_rph, is_demo, is_public, is_universal, tracing, max_active_requests, created_by, created_at, updated_by, updated_at, use_icon_as_answer_icon',
        'app_model_configs': 'id, app_id, provider, model_id, configs, opening_statement, suggested_questions, suggested_questions_after_answer, speech_to_text, more_like_this, model, user_input_form, pre_prompt, agent_mode, retriever_resource, prompt_type, chat_prompt_config, completion_prompt_config, dataset_configs, external_data_tools, file_upload, text_to_speech, sensitive_word_avoidance, dataset_query_variable, created_by, created_at, updated_by, updated_at',
        'accounts': 'id, name, email, password, password_salt, avatar, interface_language, interface_theme, timezone, last_login_at, last_login_ip, last_active_at, status, initialized_at, created_at, updated_at',
        'end_users': 'id, tenant_id, app_id, type, external_user_id, name, is_anonymous, session_id, created_at, updated_at',
        'conversations': 'id, app_id, app_model_config_id, model_provider, model_id, override_model_configs, mode, name, summary, inputs, introduction, system_instruction, system_instruction_tokens, status, invoke_from, from_source, from_end_user_id, from_account_id, read_at, read_account_id, dialogue_count, created_at, updated_at, is_deleted',
        'messages': 'id, app_id, model_provider, model_id, override_model_configs, conversation_id, inputs, query, message, message_tokens, message_unit_price, message_price_unit, answer, answer_tokens, answer_unit_price, answer_price_unit, parent_message_id, provider_response_latency, total_price, currency, status, error, message_metadata, invoke_from, from_source, from_end_user_id, from_account_id, created_at, updated_at, agent_based, workflow_run_id, app_mode',
        'message_feedbacks': 'id, app_id, conversation_id, message_id, rating, content, from_source, from_end_user_id, from_account_id, created_at, updated_at',
        'workflow_runs': 'id, tenant_id, app_id, workflow_id, type, triggered_from, version, graph, inputs, status, outputs, error, elapsed_time, total_tokens, total_steps, created_by_role, created_by, created_at, finished_at, exceptions_count',
        'workflow_app_logs': 'id, tenant_id, app_id, workflow_id, workflow_run_id, created_from, created_by_role, created_by, created_at'
    } -%}
    {{ return(columns[table].split(', ')) }}
{%- endmacro %}

{#- `case` naming the first failed check. Each check is [reason, expression that is true for
    a valid row]; a null result counts as failed, so a missing value is never waved through. -#}
{% macro lpa_first_failed_check(checks) -%}
    case
        {%- for reason, is_valid in checks %}
        when not coalesce({{ is_valid }}, false) then '{{ reason }}'
        {%- endfor %}
    end
{%- endmacro %}

{#- Is the (normalised) enum value one of the accepted values in var dify_accepted_values? -#}
{% macro lpa_is_accepted(normalised_expr, enum_name, nullable=false) -%}
    {%- set accepted = var('dify_accepted_values')[enum_name] -%}
    {%- if nullable -%}
        ({{ normalised_expr }} is null or {{ normalised_expr }} in ({{ lpa_sql_list(accepted) }}))
    {%- else -%}
        ({{ normalised_expr }} in ({{ lpa_sql_list(accepted) }}))
    {%- endif -%}
{%- endmacro %}

{#- Does an optional reference resolve? `joined_key` is the key column of the left-joined
    staged table. -#}
{% macro lpa_reference_resolves(foreign_key, joined_key) -%}
    ({{ foreign_key }} is null or {{ joined_key }} is not null)
{%- endmacro %}

{#- Content fingerprint of one raw row (NULL and '' kept apart), identical on every adapter. -#}
{% macro lpa_dify_row_key(table, relation_alias) -%}
    {%- set parts = [relation_alias ~ '._file_name'] -%}
    {%- for column in lpa_dify_columns(table) -%}
        {%- do parts.append("'|'") -%}
        {%- do parts.append("coalesce(" ~ relation_alias ~ "." ~ column ~ ", '<null>')") -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- The quarantine and lineage columns every Dify base model ends with. Credentials
    (accounts.password, password_salt) never enter the quarantined raw record. -#}
{% macro lpa_dify_lineage_columns(table, rejection_reason_expr, relation_alias='source') -%}
    {%- set kept = [] -%}
    {%- for column in lpa_dify_columns(table) -%}
        {%- if column not in ['password', 'password_salt'] -%}{%- do kept.append(column) -%}{%- endif -%}
    {%- endfor -%}
        {{ rejection_reason_expr }} as rejection_reason,
        case
            when ({{ rejection_reason_expr }}) is not null
                then {{ lpa_columns_to_json(kept, relation_alias) }}
        end as rejected_record,
        {{ relation_alias }}._file_name as source_file_name,
        {{ relation_alias }}._loaded_at as loaded_at,
        {{ lpa_build_started_at() }} as staged_at,
        {{ lpa_dify_row_key(table, relation_alias) }} as source_row_key
{%- endmacro %}

{#- Marks every copy of an id after the most recently updated one (a table exported twice
    into one file). Rejected rows never win over a valid copy. -#}
{% macro lpa_flag_duplicate_ids(relation, id_column, recency_column) -%}
    select
        *,
        case
            when rejection_reason is null
                and row_number() over (
                    partition by rejection_reason, {{ id_column }}
                    order by {{ recency_column }} desc nulls last, source_row_key asc
                ) > 1
                then 'id'
        end as duplicate_type

    from {{ relation }}
{%- endmacro %}
