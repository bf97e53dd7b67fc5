# ruff: noqa: E501  (fixture rows read best one per line)
"""Hand-written deliveries for the identity, alias-map and cross-source rules of fct_events.

Each Amplitude event's true owner is written next to it (EXPECTED_OWNER): the tests check
that fct_events gives exactly that person, on both adapters.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tiny_raw import CHAT_APP, CONVERSATION, DIFY_COLUMNS, TENANT, _row, _write_csv, amplitude_event

A, B = "user_a", "user_b"
D1, D2, D3, D4, D5 = "dev-1", "dev-2", "dev-3", "dev-4", "dev-5"
EU_A = "e0000000-0000-4000-8000-00000000000a"
EU_BROWSER = "e0000000-0000-4000-8000-00000000000b"
EU_DEFAULT = "e0000000-0000-4000-8000-00000000000c"
M1 = "d0000000-0000-4000-8000-000000000001"
M2 = "d0000000-0000-4000-8000-000000000002"
M3 = "d0000000-0000-4000-8000-000000000003"


def _t(minute: int) -> str:
    return f"2026-07-20 10:{minute:02d}:00.000000"


def _event(uuid: str, minute: int, device: str, user: str | None, **extra) -> str:
    record = amplitude_event(
        uuid=uuid,
        device_id=device,
        user_id=user,
        event_type=extra.pop("event_type", "page_view"),
        event_time=_t(minute),
        client_event_time=_t(minute),
        server_received_time=_t(minute),
        server_upload_time=_t(minute),
        event_properties=extra.pop("event_properties", {}),
        **{"$insert_id": "ins-" + uuid},
        **extra,
    )
    return json.dumps(record)


# (line, expected owner): 'user:<id>', 'device:<id>' or None (not in fct_events)
EVENTS: list[tuple[str, str | None]] = [
    # Rule 1: anonymous use before the first login belongs to the first user (retroactive);
    # anonymous use after the last login stays with the last user.
    (_event("e01", 1, D1, None, amplitude_id=800001), f"user:{A}"),
    (_event("e02", 2, D1, None, amplitude_id=800001), f"user:{A}"),
    (_event("e03", 3, D1, A, amplitude_id=700001), f"user:{A}"),
    (_event("e04", 4, D1, None, amplitude_id=700001), f"user:{A}"),
    # Rule 2: a shared device is split by login runs: anonymous use belongs to the user who
    # logs in next (the gap between A and B is B's), and to the last user when nobody does;
    # B and A never become one person.
    (_event("e05", 10, D2, A, amplitude_id=700001), f"user:{A}"),
    (_event("e06", 11, D2, None, amplitude_id=800002), f"user:{B}"),
    (_event("e07", 12, D2, B, amplitude_id=700002), f"user:{B}"),
    (_event("e08", 13, D2, None, amplitude_id=700002), f"user:{A}"),  # A logs in again at 20
    (_event("e09", 20, D2, A, amplitude_id=700001), f"user:{A}"),
    (_event("e10", 21, D2, None, amplitude_id=700001), f"user:{B}"),  # B logs in again at 41
    # Rule 3: one user on several devices is one person.
    (_event("e11", 30, D3, A, amplitude_id=700001, platform="iOS", event_type="tap_ad"), f"user:{A}"),
    # A device nobody logs in on is a person of its own.
    (_event("e12", 31, D4, None, amplitude_id=800004, platform="Android", event_type="clickAd"), f"device:{D4}"),
    # Rule 3: a merged Amplitude id follows its target (D5 never sees a login).
    (_event("e13", 32, D5, None, amplitude_id=800005, event_type="adClick"), f"user:{A}"),
    # Alias map: tap_ad is mapped on iOS only; on Web it stays unmapped (snake_case kept).
    (_event("e14", 33, D4, None, amplitude_id=800004, platform="Web", event_type="tap_ad"), f"device:{D4}"),
    (_event("e15", 34, D4, None, amplitude_id=800004, event_type="Mystery Event!"), f"device:{D4}"),
    # Cross-source: the client echo of Dify message M1 is folded into the Dify event.
    (
        _event("e16", 40, D3, A, amplitude_id=700001, platform="iOS", event_type="query_submitted", event_properties={"dify_message_id": M1, "screen": "chat"}),
        None,
    ),
    # B's Amplitude id merged into A's: a merge of two users, refused (B stays B).
    (_event("e17", 41, D2, B, amplitude_id=700003), f"user:{B}"),
]  # fmt: skip

MERGES = [
    {"scope": 1, "merge_time": 1784541120000, "merge_server_time": 1784541120000, "amplitude_id": 800005, "merged_amplitude_id": 700001},
    {"scope": 1, "merge_time": 1784541120000, "merge_server_time": 1784541120000, "amplitude_id": 700003, "merged_amplitude_id": 700001},
]  # fmt: skip

EXPECTED_EVENT_NAMES = {
    "e11": "click_banner",  # tap_ad on iOS
    "e12": "click_banner",  # clickAd on Android
    "e13": "click_banner",  # adClick (generic row)
    "e14": "tap_ad",  # unmapped on Web
    "e15": "mystery_event",  # unmapped, snake_case
    "e01": "page_view",
}


def dify_rows() -> dict[str, list[list[str | None]]]:
    ts = "2026-07-20 10:40:00"
    ms = "2026-07-20 10:40:02.500000"
    msg = dict(app_id=CHAT_APP, conversation_id=CONVERSATION, message="[]", answer="ok", message_tokens="10", answer_tokens="5", provider_response_latency="2.5", total_price="0.001", currency="USD", status="normal", invoke_from="service-api", from_source="api", created_at=ts, updated_at=ms, agent_based="f")  # fmt: skip
    return {
        "apps": [_row("apps", id=CHAT_APP, tenant_id=TENANT, name="chat", mode="chat", status="normal", created_at=ts, updated_at=ts)],
        "end_users": [
            _row("end_users", id=EU_A, tenant_id=TENANT, app_id=CHAT_APP, type="service-api", external_user_id=A, is_anonymous="f", session_id=A, created_at=ts, updated_at=ts),
            _row("end_users", id=EU_BROWSER, tenant_id=TENANT, app_id=CHAT_APP, type="browser", is_anonymous="t", session_id="3b9f0c56-1111-4222-8333-444455556666", created_at=ts, updated_at=ts),
            _row("end_users", id=EU_DEFAULT, tenant_id=TENANT, app_id=CHAT_APP, type="service-api", is_anonymous="t", session_id="DEFAULT-USER", created_at=ts, updated_at=ts),
        ],
        "conversations": [
            _row("conversations", id=CONVERSATION, app_id=CHAT_APP, mode="chat", name="c", status="normal", invoke_from="service-api", from_source="api", from_end_user_id=EU_A, created_at=ts, updated_at=ts, is_deleted="f"),
        ],
        "messages": [
            _row("messages", id=M1, query="q1", from_end_user_id=EU_A, **msg),
            _row("messages", id=M2, query="q2", from_end_user_id=EU_BROWSER, **msg),
            _row("messages", id=M3, query="q3", from_end_user_id=EU_DEFAULT, **msg),
        ],
    }  # fmt: skip


def write_identity_raw(root: Path) -> Path:
    path = root / "amplitude/2026-07-20/434735_2026-07-20_10#0.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(line for line, _ in EVENTS) + "\n")
    merge = root / "amplitude/merge_ids/434735_2026-07-20_10.json.gz"
    merge.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(merge, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(m) for m in MERGES) + "\n")
    (root / "dify").mkdir(parents=True, exist_ok=True)
    rows = dify_rows()
    for table, columns in DIFY_COLUMNS.items():
        _write_csv(root / "dify" / f"{table}.csv", columns, rows.get(table, []))
    return root
