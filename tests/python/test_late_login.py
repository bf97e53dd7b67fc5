# ruff: noqa: E501  (fixture rows read best one per line)
"""A late login re-attributes earlier anonymous events in an incremental build, and touches
only the identities it affects.

Delivery 1: a device used anonymously on 2026-07-01 (outside the next build's window), and a
bystander who is logged in on 2026-07-01 and 2026-07-06. Delivery 2 (2026-07-07): the device's
owner logs in, the bystander comes back. The incremental build must give the device's old
events to the owner, rebuild them although they are older than the window (2026-07-03 = last
date 07-06 minus lookback 3 days), leave the bystander's events alone (the old one outside
the window, the recent one inside it, recomputed but unchanged), and end equal to a full
refresh.
"""

from __future__ import annotations

from pathlib import Path

from dbt_harness import query_duckdb, run_dbt
from tiny_raw import amplitude_event, deliver_amplitude

DEVICE, OWNER = "late-device", "late_owner"
BUILD = ["build", "--exclude", "resource_type:test", "resource_type:unit_test"]
BYSTANDER_DEVICE, BYSTANDER = "bystander-device", "bystander"


def _event(uuid: str, at: str, device: str, user: str | None, session: int) -> dict:
    return amplitude_event(
        uuid=uuid, device_id=device, user_id=user, event_type="page_view", amplitude_id=None,
        event_time=at, client_event_time=at, server_received_time=at, server_upload_time=at,
        processed_time=at, client_upload_time=at, session_id=session, event_properties={},
        **{"$insert_id": "ins-" + uuid},
    )  # fmt: skip


DELIVERIES = {
    1: [
        _event("old-anon-1", "2026-07-01 10:00:00.000000", DEVICE, None, 1782900000000),
        _event("old-anon-2", "2026-07-01 10:05:00.000000", DEVICE, None, 1782900000000),
        _event("old-bystander", "2026-07-01 11:00:00.000000", BYSTANDER_DEVICE, BYSTANDER, 1782903600000),
        _event("recent-bystander", "2026-07-06 11:00:00.000000", BYSTANDER_DEVICE, BYSTANDER, 1783335600000),
    ],
    2: [
        _event("login", "2026-07-07 09:00:00.000000", DEVICE, OWNER, 1783414800000),
        _event("new-bystander", "2026-07-07 11:00:00.000000", BYSTANDER_DEVICE, BYSTANDER, 1783422000000),
    ],
}  # fmt: skip


def deliver(raw: Path, k: int) -> None:
    deliver_amplitude(raw, k, DELIVERIES[k])


def events_by_uuid(path: Path) -> dict[str, dict]:
    rows = query_duckdb(
        path,
        "select e.person_id, e.event_date, e.session_key, e.event_id, b.amplitude_event_id as uuid"
        " from marts.fct_events as e"
        " inner join staging.base_amplitude__events as b"
        " on e.event_id = md5('amplitude|' || b.amplitude_event_id)",
    )
    return {r["uuid"]: r for r in rows}


def test_late_login_rewrites_only_the_affected_identity(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    deliver(raw, 1)
    chain = tmp_path / "chain"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=chain)
    before = events_by_uuid(chain / "warehouse.duckdb")
    assert (
        before["old-anon-1"]["person_id"]
        == query_duckdb(chain / "warehouse.duckdb", f"select md5('device:{DEVICE}') as p")[0]["p"]
    )

    deliver(raw, 2)
    run_dbt(BUILD, target="duckdb", raw_path=raw, work_dir=chain)
    path = chain / "warehouse.duckdb"
    after = events_by_uuid(path)
    owner = query_duckdb(path, f"select md5('user:{OWNER}') as p")[0]["p"]
    assert {after[u]["person_id"] for u in ("old-anon-1", "old-anon-2", "login")} == {owner}

    window = query_duckdb(path, "select cutoff_date from intermediate.int_events__batch_window")
    assert str(window[0]["cutoff_date"]) == "2026-07-03"
    changed = {
        r["event_id"]
        for r in query_duckdb(path, "select event_id from intermediate.int_events__changed")
    }
    # Re-attributed although older than the window; the bystander's old event is untouched.
    assert after["old-anon-1"]["event_id"] in changed
    assert after["old-anon-2"]["event_id"] in changed
    assert after["old-bystander"]["event_id"] not in changed
    assert after["old-bystander"] == before["old-bystander"]
    # New events are written; the bystander's event inside the window is recomputed by
    # int_events__unioned but comes out the same, so fct_events does not rewrite it.
    assert after["login"]["event_id"] in changed
    assert after["new-bystander"]["event_id"] in changed
    assert after["recent-bystander"]["event_id"] not in changed
    assert after["recent-bystander"] == before["recent-bystander"]

    # And the same marts as a full refresh.
    full = tmp_path / "full"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=full)
    for table in ["marts.fct_events", "marts.fct_sessions", "marts.dim_identity_map"]:
        sql = f"select * from {table} order by all"
        assert query_duckdb(path, sql) == query_duckdb(full / "warehouse.duckdb", sql), table
