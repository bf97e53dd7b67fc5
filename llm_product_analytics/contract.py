"""The input contract (docs/input-contract.md) as data: the one list of upstream columns and
keys that the generator, the PostgreSQL loader and the tests share."""

from __future__ import annotations

# Dify tables: upstream column lists, in upstream order.
DIFY_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(c.strip() for c in columns.split(","))
    for table, columns in {
        "apps": "id, tenant_id, name, description, mode, icon_type, icon, icon_background, "
        "app_model_config_id, workflow_id, status, enable_site, enable_api, api_rpm, api_rph, "
        "is_demo, is_public, is_universal, tracing, max_active_requests, created_by, created_at, "
        "updated_by, updated_at, use_icon_as_answer_icon",
        "app_model_configs": "id, app_id, provider, model_id, configs, opening_statement, "
        "suggested_questions, suggested_questions_after_answer, speech_to_text, more_like_this, "
        "model, user_input_form, pre_prompt, agent_mode, retriever_resource, prompt_type, "
        "chat_prompt_config, completion_prompt_config, dataset_configs, external_data_tools, "
        "file_upload, text_to_speech, sensitive_word_avoidance, dataset_query_variable, "
        "created_by, created_at, updated_by, updated_at",
        "accounts": "id, name, email, password, password_salt, avatar, interface_language, "
        "interface_theme, timezone, last_login_at, last_login_ip, last_active_at, status, "
        "initialized_at, created_at, updated_at",
        "end_users": "id, tenant_id, app_id, type, external_user_id, name, is_anonymous, "
        "session_id, created_at, updated_at",
        "conversations": "id, app_id, app_model_config_id, model_provider, model_id, "
        "override_model_configs, mode, name, summary, inputs, introduction, system_instruction, "
        "system_instruction_tokens, status, invoke_from, from_source, from_end_user_id, "
        "from_account_id, read_at, read_account_id, dialogue_count, created_at, updated_at, "
        "is_deleted",
        "messages": "id, app_id, model_provider, model_id, override_model_configs, "
        "conversation_id, inputs, query, message, message_tokens, message_unit_price, "
        "message_price_unit, answer, answer_tokens, answer_unit_price, answer_price_unit, "
        "parent_message_id, provider_response_latency, total_price, currency, status, error, "
        "message_metadata, invoke_from, from_source, from_end_user_id, from_account_id, "
        "created_at, updated_at, agent_based, workflow_run_id, app_mode",
        "message_feedbacks": "id, app_id, conversation_id, message_id, rating, content, "
        "from_source, from_end_user_id, from_account_id, created_at, updated_at",
        "workflow_runs": "id, tenant_id, app_id, workflow_id, type, triggered_from, version, "
        "graph, inputs, status, outputs, error, elapsed_time, total_tokens, total_steps, "
        "created_by_role, created_by, created_at, finished_at, exceptions_count",
        "workflow_app_logs": "id, tenant_id, app_id, workflow_id, workflow_run_id, created_from, "
        "created_by_role, created_by, created_at",
    }.items()
}
OPTIONAL_DIFY_TABLES = frozenset({"app_model_configs", "accounts"})
REQUIRED_DIFY_TABLES = frozenset(DIFY_COLUMNS) - OPTIONAL_DIFY_TABLES


# Amplitude Export API / S3 event keys (the documented superset), in export order.
AMPLITUDE_EVENT_KEYS: tuple[str, ...] = (
    "$insert_id", "$insert_key", "$schema", "adid", "amplitude_attribution_ids",
    "amplitude_event_type", "amplitude_id", "app", "city", "client_event_time",
    "client_upload_time", "country", "data", "data_type", "device_brand", "device_carrier",
    "device_family", "device_id", "device_manufacturer", "device_model", "device_type", "dma",
    "event_id", "event_properties", "event_time", "event_type", "global_user_properties",
    "group_properties", "groups", "idfa", "ip_address", "is_attribution_event", "language",
    "library", "location_lat", "location_lng", "os_name", "os_version", "partner_id", "paying",
    "plan", "platform", "processed_time", "region", "sample_rate", "server_received_time",
    "server_upload_time", "session_id", "source_id", "start_version", "user_creation_time",
    "user_id", "user_properties", "uuid", "version_name",
)  # fmt: skip
