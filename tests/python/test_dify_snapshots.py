# ruff: noqa: E501  (fixture rows read best one per line)
"""Incremental Dify staging from whole-table snapshots (macros/incremental/dify.sql).

Delivery 1 is the tiny sample. Delivery 2 re-exports every Dify table with:
- the conversation a quarantined message pointed to (the message row itself is unchanged
  and older than the window): the message must leave the quarantine;
- a late message created weeks before the newest staged row: it must be staged;
- the running debugger run finished (its cursor, finished_at, moves): one row, succeeded;
- every other row unchanged: not restaged (it keeps delivery 1's file time as loaded_at),
  although all of them are within the default lookback_days of the newest staged row.
The Dify staging tables, fct_llm_messages and fct_workflow_runs must equal a full refresh.
"""

from __future__ import annotations

import os
from pathlib import Path

from dbt_harness import query_duckdb, run_dbt
from tiny_raw import (
    CHAT_APP,
    CONVERSATION,
    DIFY_COLUMNS,
    END_USER,
    MESSAGE_NO_CONVERSATION,
    MESSAGE_OK,
    RUN_DEBUG,
    _row,
    _write_csv,
    dify_rows,
    write_tiny_raw,
)

BUILD = ["build", "--exclude", "resource_type:test", "resource_type:unit_test"]
VARS: dict[str, object] = {}
LATE_MESSAGE = "5a1e0000-0000-4000-8000-000000000001"
ARRIVED_CONVERSATION = "99999999-9999-4999-8999-999999999999"
MTIME_1, MTIME_2 = 1784538000, 1784624400  # 2026-07-20 09:00 and 2026-07-21 09:00 UTC


def write_delivery_2(raw: Path) -> None:
    rows = {table: [r for r, _ in table_rows] for table, table_rows in dify_rows().items()}
    rows["conversations"].append(_row("conversations", id=ARRIVED_CONVERSATION, app_id=CHAT_APP, mode="chat", name="late", status="normal", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, dialogue_count="1", created_at="2026-07-20 08:00:00", updated_at="2026-07-20 08:00:00", is_deleted="f"))  # fmt: skip
    rows["messages"].append(_row("messages", id=LATE_MESSAGE, app_id=CHAT_APP, conversation_id=CONVERSATION, query="late", message="[]", message_tokens="3", answer="a", answer_tokens="2", provider_response_latency="1.0", total_price="0", currency="USD", status="normal", invoke_from="service-api", from_source="api", from_end_user_id=END_USER, created_at="2026-07-01 08:00:00", updated_at="2026-07-01 08:00:01", agent_based="f", app_mode="chat"))  # fmt: skip
    columns = DIFY_COLUMNS["workflow_runs"]
    for run in rows["workflow_runs"]:
        values = dict(zip(columns, run, strict=True))
        if values["id"] == RUN_DEBUG:
            values.update(
                status="succeeded",
                finished_at="2026-07-20 09:25:00",
                elapsed_time="1.5",
                outputs="{}",
            )
            run[:] = [values[c] for c in columns]
    for table, table_rows in rows.items():
        path = raw / "dify" / f"{table}.csv"
        _write_csv(path, list(DIFY_COLUMNS[table]), table_rows)
        os.utime(path, (MTIME_2, MTIME_2))


def stamp(raw: Path, mtime: int) -> None:
    for path in (raw / "dify").glob("*.csv"):
        os.utime(path, (mtime, mtime))


def test_snapshot_rows_restaged_only_when_new_changed_or_unblocked(tmp_path: Path) -> None:
    raw = write_tiny_raw(tmp_path / "raw")
    stamp(raw, MTIME_1)
    chain = tmp_path / "chain"
    run_dbt(
        [*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=chain, extra_vars=VARS
    )
    path = chain / "warehouse.duckdb"
    quarantined = query_duckdb(
        path,
        f"select rejection_reason from staging.base_dify__messages where message_id = '{MESSAGE_NO_CONVERSATION}'",
    )
    assert quarantined == [{"rejection_reason": "broken_reference"}]

    write_delivery_2(raw)
    run_dbt(BUILD, target="duckdb", raw_path=raw, work_dir=chain, extra_vars=VARS)

    messages = {
        r["message_id"]: r
        for r in query_duckdb(
            path,
            "select message_id, rejection_reason, epoch(loaded_at) as loaded from staging.base_dify__messages",
        )
    }
    assert messages[MESSAGE_NO_CONVERSATION]["rejection_reason"] is None
    assert messages[LATE_MESSAGE]["rejection_reason"] is None
    assert messages[LATE_MESSAGE]["loaded"] == MTIME_2
    assert messages[MESSAGE_OK]["loaded"] == MTIME_1  # unchanged: not restaged
    assert len(messages) == len(dify_rows()["messages"]) + 1
    runs = query_duckdb(
        path,
        f"select run_status from staging.stg_dify__workflow_runs where workflow_run_id = '{RUN_DEBUG}'",
    )
    assert runs == [{"run_status": "succeeded"}]

    full = tmp_path / "full"
    run_dbt(
        [*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=full, extra_vars=VARS
    )
    tables = [
        f"staging.{prefix}dify__{table}"
        for prefix in ("base_", "stg_")
        for table in (
            "end_users",
            "conversations",
            "messages",
            "message_feedbacks",
            "workflow_runs",
            "workflow_app_logs",
        )
    ] + ["staging.stg_dify__rejected_rows", "marts.fct_llm_messages", "marts.fct_workflow_runs"]
    for table in tables:
        # Load and build metadata: the time of the snapshot / build that first brought a row.
        ignored = {
            "staging.base": " exclude (loaded_at, staged_at)",
            "staging.stg_": " exclude (loaded_at)",
        }
        sql = f"select *{ignored.get(table[:12], '')} from {table} order by all"
        assert query_duckdb(path, sql) == query_duckdb(full / "warehouse.duckdb", sql), table
