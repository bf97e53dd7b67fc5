# ruff: noqa: E501  (fixture rows read best one per line)
"""An incremental build recomputes only the inactivity sessions its changes can reach, and
they end as a full refresh gives them.

Out-of-session events (Amplitude session_id -1, no Dify conversation) are split into sessions
after 30 minutes without an event of the person. Build 2's window starts 2026-07-03 (last
date 07-06 minus lookback 3 days). Two cases it must get right:
- a chain of events 20 minutes apart from 07-02 22:00 to 07-03 00:20 is one session that
  crosses the cutoff: its events before the cutoff are rebuilt with those after it;
- a device used anonymously at 06-28 10:00 is claimed by a login in delivery 2; its owner had
  an out-of-session event at 06-28 10:10 on another device. The two become one session of
  the owner although both are days before the window (a late login reaches all history).
A session of a person with changes that ended long before the window is left as it was.
"""

from __future__ import annotations

from pathlib import Path

from dbt_harness import query_duckdb, run_dbt
from tiny_raw import amplitude_event, deliver_amplitude

BUILD = ["build", "--exclude", "resource_type:test", "resource_type:unit_test"]
CHAIN_USER, CHAIN_DEVICE = "chain_user", "chain-device"
OWNER, OWNER_DEVICE, CLAIMED_DEVICE = "loose_owner", "owner-device", "claimed-device"
CHAIN = [f"2026-07-02 {h}:{m}:00.000000" for h in (22, 23) for m in ("00", "20", "40")] + [
    "2026-07-03 00:00:00.000000",
    "2026-07-03 00:20:00.000000",
]


def _event(uuid: str, at: str, device: str, user: str | None) -> dict:
    return amplitude_event(
        uuid=uuid, device_id=device, user_id=user, event_type="page_view", amplitude_id=None,
        event_time=at, client_event_time=at, server_received_time=at, server_upload_time=at,
        processed_time=at, client_upload_time=at, session_id=-1, event_properties={},
        **{"$insert_id": "ins-" + uuid},
    )  # fmt: skip


DELIVERIES = {
    1: [
        _event("old-chain-user", "2026-06-30 08:00:00.000000", CHAIN_DEVICE, CHAIN_USER),
        *(_event(f"chain-{i}", at, CHAIN_DEVICE, CHAIN_USER) for i, at in enumerate(CHAIN)),
        _event("chain-user-recent", "2026-07-06 10:00:00.000000", CHAIN_DEVICE, CHAIN_USER),
        _event("claimed-anon", "2026-06-28 10:00:00.000000", CLAIMED_DEVICE, None),
        _event("owner-old", "2026-06-28 10:10:00.000000", OWNER_DEVICE, OWNER),
    ],
    2: [
        _event("chain-user-new", "2026-07-07 09:00:00.000000", CHAIN_DEVICE, CHAIN_USER),
        _event("login", "2026-07-07 09:30:00.000000", CLAIMED_DEVICE, OWNER),
    ],
}  # fmt: skip


def deliver(raw: Path, k: int) -> None:
    deliver_amplitude(raw, k, DELIVERIES[k])


def events_by_uuid(path: Path) -> dict[str, dict]:
    rows = query_duckdb(
        path,
        "select e.event_id, e.person_id, e.session_key, e.session_type,"
        " b.amplitude_event_id as uuid"
        " from marts.fct_events as e"
        " inner join staging.base_amplitude__events as b"
        " on e.event_id = md5('amplitude|' || b.amplitude_event_id)",
    )
    return {r["uuid"]: r for r in rows}


def test_incremental_rebuilds_the_inactivity_sessions_its_changes_reach(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    deliver(raw, 1)
    chain = tmp_path / "chain"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=chain)
    deliver(raw, 2)
    run_dbt(BUILD, target="duckdb", raw_path=raw, work_dir=chain)
    path = chain / "warehouse.duckdb"
    window = query_duckdb(path, "select cutoff_date from intermediate.int_events__batch_window")
    assert str(window[0]["cutoff_date"]) == "2026-07-03"

    full = tmp_path / "full"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=full)
    expected = events_by_uuid(full / "warehouse.duckdb")
    # The fixture holds both cases: one session across the cutoff, and the claimed device's
    # event in one session with its owner's.
    chain_uuids = [f"chain-{i}" for i in range(len(CHAIN))]
    assert {expected[u]["session_type"] for u in chain_uuids} == {"inactivity"}
    assert len({expected[u]["session_key"] for u in chain_uuids}) == 1
    assert expected["claimed-anon"]["session_key"] == expected["owner-old"]["session_key"]

    assert events_by_uuid(path) == expected
    for table in ["marts.fct_events", "marts.fct_sessions"]:
        sql = f"select * from {table} order by all"
        assert query_duckdb(path, sql) == query_duckdb(full / "warehouse.duckdb", sql), table

    # Only what the changes reach was rewritten: the chain user's session of 06-30 was not.
    changed = {
        r["event_id"]
        for r in query_duckdb(path, "select event_id from intermediate.int_events__changed")
    }
    assert expected["old-chain-user"]["event_id"] not in changed
    assert {expected[u]["event_id"] for u in [*chain_uuids, "claimed-anon", "owner-old"]} <= changed
