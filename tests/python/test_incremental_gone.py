# ruff: noqa: E501  (fixture rows read best one per line)
"""An event a batch no longer makes leaves every table, on both adapters.

int_events__unioned writes only the events that are new or come out different, and a
tombstone for each one it no longer makes (deleted again by its post-hook). Here delivery 2
brings a client retry that reached Amplitude before the event delivery 1 had: the same device
and insert_id, received 5 s earlier. The earlier one is kept, so the event of delivery 1
becomes a duplicate and must vanish from int_events__unioned and fct_events, be among the
events the batch rewrote, and the tables must equal a full refresh.
"""

from __future__ import annotations

from pathlib import Path

from llm_product_analytics.load import load

from conftest import create_database, drop_database
from dbt_harness import query_duckdb, query_postgres, run_dbt
from tiny_raw import amplitude_event, deliver_amplitude

BUILD = ["build", "--exclude", "resource_type:test", "resource_type:unit_test"]
DEVICE, USER = "retry-device", "retry_user"


def _event(uuid: str, at: str, received: str, insert_id: str) -> dict:
    return amplitude_event(
        uuid=uuid, device_id=DEVICE, user_id=USER, event_type="page_view", amplitude_id=None,
        event_time=at, client_event_time=at, server_received_time=received,
        server_upload_time=received, processed_time=received, client_upload_time=received,
        session_id=1783245600000, event_properties={}, **{"$insert_id": insert_id},
    )  # fmt: skip


DELIVERIES = {
    1: [
        _event("seen-first", "2026-07-05 10:00:00.000000", "2026-07-05 10:00:05.000000", "ins-retried"),
        _event("other", "2026-07-05 10:10:00.000000", "2026-07-05 10:10:00.000000", "ins-other"),
    ],
    2: [
        _event("received-first", "2026-07-05 10:00:00.000000", "2026-07-05 10:00:00.000000", "ins-retried"),
        _event("next-day", "2026-07-06 09:00:00.000000", "2026-07-06 09:00:00.000000", "ins-next"),
    ],
}  # fmt: skip

# Table -> the query both warehouses are compared with (staged_at is build metadata).
COMPARED = {
    "int_events__unioned": "select event_id, source, event_name, event_at, user_id, device_id"
    " from intermediate.int_events__unioned order by event_id",
    "fct_events": "select * from marts.fct_events order by event_id",
    "fct_sessions": "select * from marts.fct_sessions order by session_key",
}
EVENT_IDS = "select md5('amplitude|' || amplitude_event_id) as event_id, amplitude_event_id, duplicate_type from staging.base_amplitude__events"


def check(query, full_query) -> None:
    ids = {r["amplitude_event_id"]: r for r in query(EVENT_IDS)}
    assert ids["seen-first"]["duplicate_type"] == "insert_id"
    assert ids["received-first"]["duplicate_type"] is None
    gone = ids["seen-first"]["event_id"]
    unioned = {
        r["event_id"] for r in query("select event_id from intermediate.int_events__unioned")
    }
    assert gone not in unioned and ids["received-first"]["event_id"] in unioned
    assert query(
        "select count(*) as n from intermediate.int_events__unioned where source is null"
    ) == [{"n": 0}]
    changed = {
        r["event_id"] for r in query("select event_id from intermediate.int_events__changed")
    }
    assert gone in changed
    # The unchanged event of delivery 1 is not rewritten.
    assert ids["other"]["event_id"] not in changed
    for table, sql in COMPARED.items():
        assert query(sql) == full_query(sql), table


def test_duckdb_vanished_event_leaves_every_table(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    deliver_amplitude(raw, 1, DELIVERIES[1])
    chain = tmp_path / "chain"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=chain)
    deliver_amplitude(raw, 2, DELIVERIES[2])
    run_dbt(BUILD, target="duckdb", raw_path=raw, work_dir=chain)
    full = tmp_path / "full"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=full)
    check(
        lambda sql: query_duckdb(chain / "warehouse.duckdb", sql),
        lambda sql: query_duckdb(full / "warehouse.duckdb", sql),
    )


def test_postgres_vanished_event_leaves_every_table(
    tmp_path: Path, fresh_database: dict[str, str]
) -> None:
    raw = tmp_path / "raw"
    deliver_amplitude(raw, 1, DELIVERIES[1])
    load(raw_dir=raw, conn_params=fresh_database)
    run_dbt(
        [*BUILD, "--full-refresh"], target="postgres", raw_path=raw,
        work_dir=tmp_path / "chain", pg_params=fresh_database,
    )  # fmt: skip
    deliver_amplitude(raw, 2, DELIVERIES[2])
    load(raw_dir=raw, conn_params=fresh_database)
    run_dbt(
        BUILD, target="postgres", raw_path=raw, work_dir=tmp_path / "chain",
        pg_params=fresh_database,
    )  # fmt: skip
    full = {**fresh_database, "dbname": fresh_database["dbname"] + "_full"}
    create_database(fresh_database, full["dbname"])
    try:
        load(raw_dir=raw, conn_params=full)
        run_dbt(
            [*BUILD, "--full-refresh"], target="postgres", raw_path=raw,
            work_dir=tmp_path / "full", pg_params=full,
        )  # fmt: skip
        check(
            lambda sql: query_postgres(fresh_database, sql),
            lambda sql: query_postgres(full, sql),
        )
    finally:
        drop_database(fresh_database, full["dbname"])
