"""Identity stitching, the alias map and cross-source de-duplication on hand-written data
(identity_raw.py): every event gets the planted person, on DuckDB and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import identity_raw
from dbt_harness import (
    build_duckdb,
    comparable_rows,
    duckdb_tables,
    postgres_warehouse,
    query_duckdb,
    query_postgres,
)


def person(kind_and_key: str) -> str:
    """The documented person id: md5('<kind>:<key>')."""
    return hashlib.md5(kind_and_key.encode()).hexdigest()


@pytest.fixture(scope="session")
def identity_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return identity_raw.write_identity_raw(tmp_path_factory.mktemp("identity_raw"))


@pytest.fixture(scope="session")
def identity_duckdb(identity_raw_dir: Path, tmp_path_factory) -> Path:
    return build_duckdb(identity_raw_dir, tmp_path_factory.mktemp("identity_duckdb"))


@pytest.fixture(scope="session")
def identity_postgres(identity_raw_dir: Path, postgres_available: dict, tmp_path_factory):
    with postgres_warehouse(
        postgres_available, identity_raw_dir, tmp_path_factory.mktemp("identity_postgres")
    ) as params:
        yield params


@pytest.fixture(params=["duckdb", "postgres"])
def query(request: pytest.FixtureRequest):
    if request.param == "duckdb":
        path = request.getfixturevalue("identity_duckdb")
        return lambda sql: query_duckdb(path, sql)
    params = request.getfixturevalue("identity_postgres")
    return lambda sql: query_postgres(params, sql)


AMPLITUDE_EVENTS = """
    select stg.amplitude_event_id, events.person_id, events.event_name, events.source
    from marts.fct_events as events
    inner join staging.stg_amplitude__events as stg
        on events.event_id = md5('amplitude|' || stg.amplitude_event_id)
"""


def test_every_event_gets_the_planted_person(query) -> None:
    got = {r["amplitude_event_id"]: r["person_id"] for r in query(AMPLITUDE_EVENTS)}
    for line, owner in identity_raw.EVENTS:
        event_uuid = line.split('"uuid": "')[1].split('"')[0]
        if owner is None:
            assert event_uuid not in got, f"{event_uuid} should be folded into its Dify event"
        else:
            assert got[event_uuid] == person(owner), event_uuid


def test_alias_map_names_events_and_reports_the_unmapped(query) -> None:
    names = {r["amplitude_event_id"]: r["event_name"] for r in query(AMPLITUDE_EVENTS)}
    for event_uuid, name in identity_raw.EXPECTED_EVENT_NAMES.items():
        assert names[event_uuid] == name, event_uuid
    unmapped = {
        (r["platform"], r["raw_event_name"], r["event_count"])
        for r in query("select * from marts.rpt_unmapped_event_names")
    }
    assert unmapped == {("Web", "tap_ad", 1), ("Web", "Mystery Event!", 1)}


def test_client_echo_is_folded_into_the_server_event(query) -> None:
    rows = query(
        "select * from marts.fct_events where message_id = '"
        + identity_raw.M1
        + "' and event_name = 'query_submitted'"
    )
    assert len(rows) == 1
    [event] = rows
    assert (event["source"], event["device_id"], event["platform"]) == ("dify", "dev-3", "iOS")
    assert event["person_id"] == person("user:user_a")
    assert '"screen"' in event["properties"]


def test_dify_callers_without_a_user_id_are_their_own_persons(query) -> None:
    owners = {
        r["message_id"]: r["person_id"]
        for r in query("select message_id, person_id from marts.fct_llm_messages")
    }
    assert owners == {
        identity_raw.M1: person("user:user_a"),
        identity_raw.M2: person("dify_end_user:" + identity_raw.EU_BROWSER),
        identity_raw.M3: person("dify_end_user:" + identity_raw.EU_DEFAULT),
    }


def test_persons_and_conflicts(query) -> None:
    persons = {r["person_id"]: r for r in query("select * from marts.dim_persons")}
    assert set(persons) == {
        person("user:user_a"),
        person("user:user_b"),
        person("device:dev-4"),
        person("dify_end_user:" + identity_raw.EU_BROWSER),
        person("dify_end_user:" + identity_raw.EU_DEFAULT),
    }
    a = persons[person("user:user_a")]
    assert (a["primary_user_id"], a["is_identified"]) == ("user_a", True)
    assert a["device_count"] == 4  # dev-1, dev-2, dev-3, and dev-5 through the merged id
    conflicts = {
        (r["conflict_type"], r["identifier"])
        for r in query("select * from marts.rpt_identity_conflicts")
    }
    assert conflicts == {
        ("shared_device", "dev-2"),
        ("refused_merge", "700003"),
        ("shared_dify_end_user", identity_raw.EU_DEFAULT),
    }
    devices = query(
        "select person_id, valid_from, valid_to from marts.dim_identity_map"
        " where identifier_type = 'device_id' and identifier = 'dev-2'"
    )
    devices.sort(key=lambda d: (d["valid_from"] is not None, d["valid_from"]))
    a, b = person("user:user_a"), person("user:user_b")
    assert [d["person_id"] for d in devices] == [a, b, a, b]
    assert devices[0]["valid_from"] is None and devices[-1]["valid_to"] is None
    for earlier, later in zip(devices, devices[1:], strict=False):
        assert earlier["valid_to"] == later["valid_from"]


def test_duckdb_and_postgres_agree_row_by_row(identity_duckdb: Path, identity_postgres) -> None:
    for schema in ("intermediate", "marts"):
        for table in duckdb_tables(identity_duckdb, schema):
            duck = query_duckdb(identity_duckdb, f"select * from {schema}.{table}")
            pg = query_postgres(identity_postgres, f"select * from {schema}.{table}")
            assert comparable_rows(duck) == comparable_rows(pg), f"{schema}.{table}"
