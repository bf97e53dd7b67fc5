"""Staging on the hand-written delivery (tiny_raw.py): every line and row ends exactly where
it was planned to, with the same result on DuckDB and PostgreSQL."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import json
from pathlib import Path

import pytest

import tiny_raw
from dbt_harness import (
    build_duckdb,
    comparable_rows,
    duckdb_tables,
    postgres_warehouse,
    query_duckdb,
    query_postgres,
)

IDENTIFY_TYPES = {"$identify", "$groupidentify"}


@pytest.fixture(scope="session")
def tiny_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_raw.write_tiny_raw(tmp_path_factory.mktemp("tiny_raw"))


@pytest.fixture(scope="session")
def tiny_duckdb(tiny_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_duckdb(tiny_raw_dir, tmp_path_factory.mktemp("tiny_duckdb"))


@pytest.fixture(scope="session")
def tiny_postgres(tiny_raw_dir: Path, postgres_available: dict, tmp_path_factory):
    with postgres_warehouse(
        postgres_available, tiny_raw_dir, tmp_path_factory.mktemp("tiny_postgres")
    ) as params:
        yield params


@pytest.fixture(params=["duckdb", "postgres"])
def query(request: pytest.FixtureRequest):
    """query(sql) -> list of dict rows, on the adapter under test."""
    if request.param == "duckdb":
        path = request.getfixturevalue("tiny_duckdb")
        return lambda sql: query_duckdb(path, sql)
    params = request.getfixturevalue("tiny_postgres")
    return lambda sql: query_postgres(params, sql)


def _outcome(row: dict) -> str:
    if row["rejection_reason"]:
        return row["rejection_reason"]
    if row["duplicate_type"]:
        return row["duplicate_type"]
    return "identify" if row["event_type"] in IDENTIFY_TYPES else "event"


def _uuid_of(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("uuid") if isinstance(record, dict) else None


def test_every_amplitude_line_ends_where_planned(query) -> None:
    expected = collections.Counter(
        (name, _uuid_of(line), outcome)
        for name, lines in tiny_raw.AMPLITUDE_FILES.items()
        for line, outcome in lines
    )
    rows = query(
        "select source_file_name, amplitude_event_id, event_type, rejection_reason,"
        " duplicate_type from staging.base_amplitude__events"
    )
    actual = collections.Counter(
        (r["source_file_name"], r["amplitude_event_id"], _outcome(r)) for r in rows
    )
    assert actual == expected


def test_every_dify_row_ends_where_planned(query) -> None:
    for table, rows in tiny_raw.dify_rows().items():
        id_index = tiny_raw.DIFY_COLUMNS[table].index("id")
        expected = collections.Counter((row[id_index], outcome) for row, outcome in rows)
        key = {
            "apps": "app_id",
            "app_model_configs": "app_model_config_id",
            "accounts": "account_id",
            "end_users": "end_user_id",
            "conversations": "conversation_id",
            "messages": "message_id",
            "message_feedbacks": "message_feedback_id",
            "workflow_runs": "workflow_run_id",
            "workflow_app_logs": "workflow_app_log_id",
        }[table]
        got = query(
            f"select {key} as id, coalesce(rejection_reason, duplicate_type, 'ok') as outcome"
            f" from staging.base_dify__{table}"
        )
        assert collections.Counter((r["id"], r["outcome"]) for r in got) == expected, table


def test_rejected_rows_keep_file_reason_and_raw_record(query) -> None:
    rows = query("select * from staging.stg_dify__rejected_rows")
    by_reason = {(r["source_table"], r["rejection_reason"]): r for r in rows}
    assert set(by_reason) == {
        ("end_users", "unknown_enum"),
        ("messages", "unknown_enum"),
        ("messages", "broken_reference"),
        ("message_feedbacks", "broken_reference"),
    }
    raw = json.loads(by_reason[("messages", "unknown_enum")]["raw_record"])
    assert raw["status"] == "archived" and raw["id"] == tiny_raw.MESSAGE_BAD_STATUS
    assert by_reason[("messages", "unknown_enum")]["source_file_name"] == "dify/messages.csv"
    amplitude = query("select * from staging.stg_amplitude__rejected_rows")
    bad_json = [r for r in amplitude if r["raw_record"] == "[1, 2, 3]"]
    assert len(bad_json) == 1 and bad_json[0]["rejection_reason"] == "invalid_json"


def test_reconciliation_accounts_for_every_raw_row(query) -> None:
    rows = {r["source_table_id"]: r for r in query("select * from marts.rpt_source_reconciliation")}
    assert all(r["is_reconciled"] for r in rows.values())
    events = rows["amplitude.events"]
    n_lines = sum(len(lines) for lines in tiny_raw.AMPLITUDE_FILES.values())
    assert (events["source_rows"], events["staged_rows"]) == (n_lines, 7)
    assert (events["duplicate_rows"], events["rejected_rows"]) == (2, 7)
    assert rows["amplitude.merge_ids"]["rejected_rows"] == 1
    assert rows["dify.messages"]["source_rows"] == 5
    assert rows["dify.messages"]["staged_rows"] == 3


def test_values_are_typed_and_normalised(query) -> None:
    [msg] = query(
        "select * from staging.stg_dify__messages where message_id = '" + tiny_raw.MESSAGE_OK + "'"
    )
    assert decimal.Decimal(str(msg["total_price"])) == decimal.Decimal("0.0001734")
    assert msg["provider_response_latency_seconds"] == pytest.approx(2.771402)
    assert msg["updated_at"] == dt.datetime(2026, 7, 20, 9, 14, 5, 871204)
    assert msg["answer"] == 'Go to Settings, "API Keys"'
    assert msg["is_internal_traffic"] is False
    [debug] = query(
        "select is_internal_traffic from staging.stg_dify__messages where message_id = '"
        + tiny_raw.MESSAGE_DEBUG
        + "'"
    )
    assert debug["is_internal_traffic"] is True
    [error] = query(
        "select answer, error_message from staging.stg_dify__messages where message_id = '"
        + tiny_raw.MESSAGE_ERROR
        + "'"
    )
    assert error["answer"] == "" and error["error_message"].startswith("[openai]")
    types = {
        r["end_user_type"] for r in query("select end_user_type from staging.stg_dify__end_users")
    }
    assert types == {"service-api"}
    [log] = query("select created_by_role from staging.stg_dify__workflow_app_logs")
    assert log["created_by_role"] == "end_user"
    [run] = query(
        "select is_internal_traffic, finished_at from staging.stg_dify__workflow_runs"
        " where workflow_run_id = '" + tiny_raw.RUN_DEBUG + "'"
    )
    assert run == {"is_internal_traffic": True, "finished_at": None}
    [event] = query(
        "select * from staging.stg_amplitude__events where amplitude_event_id = 'u-004'"
    )
    assert event["event_at"] == dt.datetime(2026, 7, 20, 9, 15)
    assert event["event_properties"]["latency_ms"] == 2771
    assert event["location_lat"] == pytest.approx(52.52) and event["is_paying"] is True
    [server] = query(
        "select session_id, is_out_of_session, insert_id from staging.stg_amplitude__events"
        " where amplitude_event_id = 'u-005'"
    )
    assert server == {"session_id": -1, "is_out_of_session": True, "insert_id": None}
    [merge] = query("select * from staging.stg_amplitude__merged_ids")
    assert (merge["amplitude_id"], merge["merged_amplitude_id"]) == (812345678901, 700123456789)
    assert merge["merged_at"] == dt.datetime(2026, 7, 20, 9, 14, 3, 4000)


def test_duckdb_and_postgres_agree_row_by_row(tiny_duckdb: Path, tiny_postgres: dict) -> None:
    for schema in ("staging", "marts"):
        tables = duckdb_tables(tiny_duckdb, schema)
        assert tables, schema
        for table in tables:
            duck = query_duckdb(tiny_duckdb, f"select * from {schema}.{table}")
            pg = query_postgres(tiny_postgres, f"select * from {schema}.{table}")
            assert comparable_rows(duck) == comparable_rows(pg), f"{schema}.{table}"
