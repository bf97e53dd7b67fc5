# ruff: noqa: E501  (fixture rows read best one per line)
"""A hand-written raw delivery with one example of every quirk and every bad-input class.

Small enough to reason about row by row: the expected staging outcome of each line is
written next to it (EXPECTED_*), so the tests compare against hand-computed values, not
against another implementation.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from llm_product_analytics.contract import AMPLITUDE_EVENT_KEYS as AMPLITUDE_KEYS
from llm_product_analytics.contract import DIFY_COLUMNS

PROJECT = 434735

TENANT = "11223344-5566-7788-99aa-bbccddeeff00"
CHAT_APP = "a1b2c3d4-5678-40ab-8def-1234567890ab"
FLOW_APP = "c9d8e7f6-1111-4222-8333-444455556666"
CONFIG_V1 = "0a0a0a0a-0000-4000-8000-000000000001"
ACCOUNT = "acc00000-0000-4000-8000-000000000001"
END_USER = "f1e2d3c4-b5a6-4789-8abc-def123456789"
END_USER_LEGACY = "f1e2d3c4-b5a6-4789-8abc-def123456790"
END_USER_BAD_TYPE = "f1e2d3c4-b5a6-4789-8abc-def123456791"
CONVERSATION = "45701982-8118-4bc5-8e9b-64562b4555f2"
MESSAGE_OK = "9da23599-e713-473b-982c-4328d4f5c78a"
MESSAGE_ERROR = "3c0b8f1e-27d4-4c55-b0a1-7f5e2d9c6a10"
MESSAGE_DEBUG = "3c0b8f1e-27d4-4c55-b0a1-7f5e2d9c6a11"
MESSAGE_BAD_STATUS = "3c0b8f1e-27d4-4c55-b0a1-7f5e2d9c6a12"
MESSAGE_NO_CONVERSATION = "3c0b8f1e-27d4-4c55-b0a1-7f5e2d9c6a13"
RUN_OK = "fb47b2e6-5e43-4f90-be01-d5c5a088d156"
RUN_DEBUG = "fb47b2e6-5e43-4f90-be01-d5c5a088d157"
WORKFLOW = "7c3e33d4-2a8b-4e5f-9b1a-d3c6e8f12345"


def amplitude_event(**overrides: object) -> dict:
    """A complete Export-API record (every key), overridden per test case."""
    record: dict = dict.fromkeys(AMPLITUDE_KEYS)
    record.update(
        {
            "$insert_id": "ins-" + str(overrides.get("uuid", "x")),
            "amplitude_id": 700123456789,
            "app": PROJECT,
            "client_event_time": "2026-07-20 09:14:05.871000",
            "client_upload_time": "2026-07-20 09:14:06.402000",
            "data": {"path": "/2/httpapi"},
            "data_type": "event",
            "device_id": "5f2b7c1a-9d3e-4b8f-a6c2-1e0d9b8a7c6f",
            "event_id": 4,
            "event_properties": {"dify_message_id": MESSAGE_OK, "latency_ms": 2771},
            "event_time": "2026-07-20 09:14:05.871000",
            "event_type": "query_submitted",
            "group_properties": {},
            "groups": {},
            "language": "English",
            "library": "amplitude-ts/2.11.1",
            "location_lat": 52.52,
            "paying": True,
            "plan": {},
            "platform": "Web",
            "processed_time": "2026-07-20 09:14:07.950000",
            "server_received_time": "2026-07-20 09:14:06.530000",
            "server_upload_time": "2026-07-20 09:14:06.541000",
            "session_id": 1784538838204,
            "user_id": "user_8842",
            "user_properties": {"plan": "pro"},
        }
    )
    record.update(overrides)
    return record


# (line, expected outcome) per file; outcome is 'event', 'identify', 'uuid', 'insert_id' or a
# rejection reason.
AMPLITUDE_FILES: dict[str, list[tuple[str, str]]] = {
    "amplitude/2026-07-20/434735_2026-07-20_9#0.json.gz": [
        (json.dumps(amplitude_event(uuid="u-001")), "event"),
        (json.dumps(amplitude_event(uuid="u-002", user_id=None, event_type="page_view")), "event"),
        (
            json.dumps(
                amplitude_event(
                    uuid="u-003", event_type="$identify", user_properties={"$set": {"plan": "pro"}}
                )
            ),
            "identify",
        ),
        # T separator and no fraction are accepted.
        (json.dumps(amplitude_event(uuid="u-004", event_time="2026-07-20T09:15:00")), "event"),
        # Out-of-session server event, no insert id.
        (json.dumps(amplitude_event(uuid="u-005", session_id=-1, **{"$insert_id": None})), "event"),
        # Client retry: same insert_id + device as u-001, new uuid, received 2 hours later.
        (
            json.dumps(
                amplitude_event(
                    uuid="u-006",
                    **{"$insert_id": "ins-u-001"},
                    server_received_time="2026-07-20 11:14:06.530000",
                )
            ),
            "insert_id",
        ),
        # Same insert_id but 8 days later: Amplitude keeps it, so do we.
        (
            json.dumps(
                amplitude_event(
                    uuid="u-007",
                    **{"$insert_id": "ins-u-001"},
                    server_received_time="2026-07-28 11:14:06.530000",
                )
            ),
            "event",
        ),
        ('{"uuid": "u-bad-1", "event_type": "page_view", ', "invalid_json"),
        ("[1, 2, 3]", "invalid_json"),
        (json.dumps(amplitude_event(uuid="u-bad-2", event_type=None)), "missing_event_type"),
        (json.dumps(amplitude_event(uuid="u-bad-3", event_time=None)), "missing_event_time"),
        (
            json.dumps(amplitude_event(uuid="u-bad-4", event_time="20/07/2026")),
            "invalid_event_time",
        ),
        (
            json.dumps(amplitude_event(uuid="u-bad-5", user_id=None, device_id=None)),
            "missing_identity",
        ),
        (json.dumps(amplitude_event(uuid=None)), "missing_uuid"),
    ],
    # Re-delivered file: u-001 again with the identical uuid.
    "amplitude/2026-07-20/434735_2026-07-20_9#1.json.gz": [
        (json.dumps(amplitude_event(uuid="u-001")), "uuid"),
        (json.dumps(amplitude_event(uuid="u-008", event_type="result_exported")), "event"),
    ],
}

MERGE_ID_LINES: list[tuple[str, str]] = [
    (
        json.dumps(
            {
                "scope": PROJECT,
                "merge_time": 1784538843004,
                "merge_server_time": 1784538846530,
                "amplitude_id": 812345678901,
                "merged_amplitude_id": 700123456789,
            }
        ),
        "merge",
    ),
    ("not json at all", "invalid_json"),
]


def _row(table: str, **values: str | None) -> list[str | None]:
    unknown = set(values) - set(DIFY_COLUMNS[table])
    assert not unknown, unknown
    return [values.get(column) for column in DIFY_COLUMNS[table]]


def dify_rows() -> dict[str, list[tuple[list[str | None], str]]]:
    """Rows per table with the expected outcome ('ok' or a rejection reason)."""
    ts = "2026-07-20 09:14:03"
    return {
        "apps": [
            (_row("apps", id=CHAT_APP, tenant_id=TENANT, name="support-assistant", mode="chat", status="normal", enable_site="t", enable_api="t", created_at=ts, updated_at=ts), "ok"),
            (_row("apps", id=FLOW_APP, tenant_id=TENANT, name="report-generator", mode="workflow", status="normal", enable_site="t", enable_api="t", created_at=ts, updated_at=ts), "ok"),
        ],
        "app_model_configs": [
            (_row("app_model_configs", id=CONFIG_V1, app_id=CHAT_APP, provider="langgenius/openai/openai", model_id="gpt-4o-mini", pre_prompt="You are helpful.", created_at=ts, updated_at=ts), "ok"),
        ],
        "accounts": [
            (_row("accounts", id=ACCOUNT, name="Ada Admin", email="ada@example.com", status="active", created_at=ts, updated_at=ts), "ok"),
        ],
        "end_users": [
            (_row("end_users", id=END_USER, tenant_id=TENANT, app_id=CHAT_APP, type="service-api", external_user_id="user_8842", is_anonymous="f", session_id="user_8842", created_at=ts, updated_at=ts), "ok"),
            (_row("end_users", id=END_USER_LEGACY, tenant_id=TENANT, app_id=FLOW_APP, type="service_api", external_user_id="user_8842", is_anonymous="f", session_id="user_8842", created_at=ts, updated_at=ts), "ok"),
            (_row("end_users", id=END_USER_BAD_TYPE, tenant_id=TENANT, app_id=CHAT_APP, type="robot", session_id="x", is_anonymous="t", created_at=ts, updated_at=ts), "unknown_enum"),
        ],
        "conversations": [
            (_row("conversations", id=CONVERSATION, app_id=CHAT_APP, app_model_config_id=CONFIG_V1, mode="chat", name="How do I rotate…", status="normal", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, dialogue_count="0", created_at=ts, updated_at=ts, is_deleted="f"), "ok"),
        ],
        "messages": [
            (_row("messages", id=MESSAGE_OK, app_id=CHAT_APP, model_provider="langgenius/openai/openai", model_id="gpt-4o-mini", conversation_id=CONVERSATION, inputs='{"plan": "pro"}', query="How do I rotate my API key?", message="[]", message_tokens="412", message_unit_price="0.1500", message_price_unit="0.0000010", answer='Go to Settings, "API Keys"', answer_tokens="186", answer_unit_price="0.6000", answer_price_unit="0.0000010", provider_response_latency="2.771402", total_price="0.0001734", currency="USD", status="normal", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, created_at=ts, updated_at="2026-07-20 09:14:05.871204", agent_based="f", app_mode="chat"), "ok"),
            (_row("messages", id=MESSAGE_ERROR, app_id=CHAT_APP, conversation_id=CONVERSATION, query="And for the EU region?", message='""', message_tokens="0", answer="", answer_tokens="0", provider_response_latency="0", total_price="0", currency="USD", status="error", error="[openai] Rate Limit Error, Error code: 429", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, created_at="2026-07-20 09:21:40", updated_at="2026-07-20 09:21:40", agent_based="f"), "ok"),
            (_row("messages", id=MESSAGE_DEBUG, app_id=CHAT_APP, conversation_id=CONVERSATION, query="test", message="[]", message_tokens="5", answer="ok", answer_tokens="1", provider_response_latency="0.5", total_price="0", currency="USD", status="normal", invoke_from="debugger", from_source="console", from_account_id=ACCOUNT, created_at=ts, updated_at=ts, agent_based="f", app_mode="chat"), "ok"),
            (_row("messages", id=MESSAGE_BAD_STATUS, app_id=CHAT_APP, conversation_id=CONVERSATION, query="q", message="[]", answer="", status="archived", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, created_at=ts, updated_at=ts, agent_based="f"), "unknown_enum"),
            (_row("messages", id=MESSAGE_NO_CONVERSATION, app_id=CHAT_APP, conversation_id="99999999-9999-4999-8999-999999999999", query="q", message="[]", answer="", status="normal", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, created_at=ts, updated_at=ts, agent_based="f"), "broken_reference"),
        ],
        "message_feedbacks": [
            (_row("message_feedbacks", id="b7e2f8a1-3c4d-4e6f-8890-abcdef123456", app_id=CHAT_APP, conversation_id=CONVERSATION, message_id=MESSAGE_OK, rating="like", from_source="user", from_end_user_id=END_USER, created_at="2026-07-20 09:14:31", updated_at="2026-07-20 09:14:31"), "ok"),
            (_row("message_feedbacks", id="b7e2f8a1-3c4d-4e6f-8890-abcdef123457", app_id=CHAT_APP, conversation_id=CONVERSATION, message_id="88888888-8888-4888-8888-888888888888", rating="dislike", content="Too vague", from_source="user", from_end_user_id=END_USER, created_at=ts, updated_at=ts), "broken_reference"),
        ],
        "workflow_runs": [
            (_row("workflow_runs", id=RUN_OK, tenant_id=TENANT, app_id=FLOW_APP, workflow_id=WORKFLOW, type="workflow", triggered_from="app-run", version="2026-07-18 10:02:11.418305", inputs='{"sys.user_id": "user_8842"}', status="succeeded", outputs="{}", elapsed_time="2.364512", total_tokens="598", total_steps="5", created_by_role="end_user", created_by=END_USER_LEGACY, created_at="2026-07-20 09:14:03.101532", finished_at="2026-07-20 09:14:05.466044", exceptions_count="0"), "ok"),
            (_row("workflow_runs", id=RUN_DEBUG, tenant_id=TENANT, app_id=FLOW_APP, workflow_id=WORKFLOW, type="workflow", triggered_from="debugging", version="draft", status="running", elapsed_time="0", total_tokens="0", total_steps="0", created_by_role="account", created_by=ACCOUNT, created_at="2026-07-20 09:20:00.000001"), "ok"),
        ],
        "workflow_app_logs": [
            (_row("workflow_app_logs", id="d0d0d0d0-0000-4000-8000-000000000001", tenant_id=TENANT, app_id=FLOW_APP, workflow_id=WORKFLOW, workflow_run_id=RUN_OK, created_from="service-api", created_by_role="end-user", created_by=END_USER_LEGACY, created_at="2026-07-20 09:14:03"), "ok"),
        ],
    }  # fmt: skip


def _write_csv(path: Path, columns: list[str], rows: list[list[str | None]]) -> None:
    """PostgreSQL COPY CSV dialect: NULL unquoted empty, '' as \"\"."""

    def field(value: str | None) -> str:
        if value is None:
            return ""
        if value == "" or any(ch in value for ch in ',"\n\r'):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [",".join(columns)] + [",".join(field(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_tiny_raw(root: Path) -> Path:
    """Write the tiny delivery under root (the raw_data_path) and return root."""
    for name, lines in AMPLITUDE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write("\n".join(line for line, _ in lines) + "\n")
    merge_path = root / "amplitude/merge_ids/434735_2026-07-20_9.json.gz"
    merge_path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(merge_path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(line for line, _ in MERGE_ID_LINES) + "\n")
    (root / "dify").mkdir(parents=True, exist_ok=True)
    for table, rows in dify_rows().items():
        _write_csv(root / "dify" / f"{table}.csv", list(DIFY_COLUMNS[table]), [r for r, _ in rows])
    return root


def deliver_amplitude(raw: Path, k: int, events: list[dict]) -> None:
    """Delivery k of an Amplitude-only raw folder: one export file of `events`, all stamped
    with their latest server_upload_time (the file's day); the first delivery also writes an
    unrelated merge record and empty Dify snapshots, so every source has a file."""
    upload = max(e["server_upload_time"] for e in events)
    day = upload[:10]
    path = raw / f"amplitude/{day}/434735_{day}_0#{k}.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(
            "\n".join(json.dumps({**e, "server_upload_time": upload}) for e in events) + "\n"
        )
    merge = raw / "amplitude/merge_ids/434735_2026-07-01_0.json.gz"
    if not merge.exists():
        merge.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(merge, "wt", encoding="utf-8") as handle:
            record = {"scope": 1, "merge_time": 1782900000000, "merge_server_time": 1782900000000,
                      "amplitude_id": 999001, "merged_amplitude_id": 999002}  # fmt: skip
            handle.write(json.dumps(record) + "\n")
        (raw / "dify").mkdir(parents=True, exist_ok=True)
        for table, columns in DIFY_COLUMNS.items():
            _write_csv(raw / "dify" / f"{table}.csv", columns, [])


if __name__ == "__main__":
    import sys

    write_tiny_raw(Path(sys.argv[1]))
