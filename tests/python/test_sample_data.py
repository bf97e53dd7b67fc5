"""Staging on generated sample data: the planted counts are recovered exactly and both
warehouses agree row by row."""

from __future__ import annotations

import collections
import csv
import hashlib
from pathlib import Path

import pytest

from llm_product_analytics.generate import generate

from dbt_harness import (
    BUILD_LOG_TABLE,
    build_duckdb,
    comparable_rows,
    duckdb_tables,
    postgres_warehouse,
    query_duckdb,
    query_postgres,
)

SAMPLE = {"users": 150, "days": 14, "seed": 7}


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    raw = tmp_path_factory.mktemp("sample_raw")
    truth = generate(out_dir=raw, **SAMPLE)
    return raw, truth


@pytest.fixture(scope="session")
def sample_duckdb(sample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_duckdb(sample[0], tmp_path_factory.mktemp("sample_duckdb"))


@pytest.fixture(scope="session")
def sample_postgres(sample, postgres_available: dict, tmp_path_factory):
    with postgres_warehouse(
        postgres_available, sample[0], tmp_path_factory.mktemp("sample_postgres")
    ) as params:
        yield params


def _reconciliation(rows: list[dict]) -> dict[str, dict]:
    return {r["source_table_id"]: r for r in rows}


@pytest.mark.parametrize("adapter", ["duckdb", "postgres"])
def test_planted_counts_are_recovered(adapter: str, sample, request) -> None:
    _, truth = sample
    counts = truth["counts"]
    if adapter == "duckdb":
        path = request.getfixturevalue("sample_duckdb")

        def query(sql):
            return query_duckdb(path, sql)
    else:
        params = request.getfixturevalue("sample_postgres")

        def query(sql):
            return query_postgres(params, sql)

    recon = _reconciliation(query("select * from marts.rpt_source_reconciliation"))
    assert all(r["is_reconciled"] for r in recon.values()), recon
    events = recon["amplitude.events"]
    assert events["source_rows"] == counts["amplitude_lines"]
    assert events["staged_rows"] == counts["amplitude_unique_events"]
    assert events["duplicate_rows"] == (
        counts["amplitude_uuid_duplicates"] + counts["amplitude_insert_id_duplicates"]
    )
    assert events["rejected_rows"] == sum(counts["amplitude_bad_rows"].values())
    [identifies] = query("select count(*) as n from staging.stg_amplitude__identifies")
    assert identifies["n"] == counts["amplitude_identify_events"]
    dupes = {
        r["duplicate_type"]: r["n"]
        for r in query(
            "select duplicate_type, count(*) as n from staging.base_amplitude__events"
            " where duplicate_type is not null group by 1"
        )
    }
    assert dupes.get("uuid", 0) == counts["amplitude_uuid_duplicates"]
    assert dupes.get("insert_id", 0) == counts["amplitude_insert_id_duplicates"]
    reasons = {
        r["rejection_reason"]: r["n"]
        for r in query(
            "select rejection_reason, count(*) as n from staging.stg_amplitude__rejected_rows"
            " where source_table = 'events' group by 1"
        )
    }
    assert reasons == counts["amplitude_bad_rows"]
    assert recon["amplitude.merge_ids"]["source_rows"] == counts["merge_id_lines"]
    assert recon["amplitude.merge_ids"]["rejected_rows"] == counts["merge_id_bad_rows"]
    for table, n_rows in counts["dify_rows"].items():
        row = recon[f"dify.{table}"]
        bad = sum(counts["dify_bad_rows"].get(table, {}).values())
        assert (row["source_rows"], row["rejected_rows"]) == (n_rows, bad), table
        assert row["staged_rows"] == n_rows - bad, table
    [debug] = query(
        "select count(*) as n from staging.stg_dify__messages where is_internal_traffic"
    )
    assert debug["n"] == counts["debugger_messages"]


def test_duckdb_and_postgres_agree_row_by_row(sample_duckdb: Path, sample_postgres: dict) -> None:
    for schema in ("staging", "intermediate", "marts"):
        for table in duckdb_tables(sample_duckdb, schema):
            duck = query_duckdb(sample_duckdb, f"select * from {schema}.{table}")
            pg = query_postgres(sample_postgres, f"select * from {schema}.{table}")
            assert len(duck) == len(pg), f"{schema}.{table}"
            assert comparable_rows(duck) == comparable_rows(pg), f"{schema}.{table}"


def test_postgres_tables_get_planner_statistics_when_built(sample_postgres: dict) -> None:
    """The loader ANALYZEs the raw tables it filled and every table model ANALYZEs itself
    (post-hook): a build must not plan over tables without statistics. Autovacuum's runs set
    last_autoanalyze, so last_analyze is set only by these explicit ANALYZEs."""
    seeds = {path.stem for path in (Path(__file__).parents[2] / "seeds").glob("*.csv")}
    rows = query_postgres(
        sample_postgres,
        "select schemaname as schema_name, relname as table_name, last_analyze "
        "from pg_stat_user_tables "
        "where schemaname in ('raw_amplitude', 'raw_dify', 'staging', 'intermediate', 'marts')",
    )
    tables = {(r["schema_name"], r["table_name"]): r["last_analyze"] for r in rows}
    assert ("staging", "base_dify__messages") in tables and ("marts", "fct_events") in tables
    empty_raw = {
        key
        for key in tables
        if key[0].startswith("raw_")
        and not query_postgres(sample_postgres, f"select 1 from {key[0]}.{key[1]} limit 1")
    }
    missing = sorted(
        key
        for key, analyzed in tables.items()
        if analyzed is None and key[1] not in seeds | {BUILD_LOG_TABLE} and key not in empty_raw
    )
    assert not missing


def test_postgres_json_parser_runs_under_parallel_query(sample_postgres: dict) -> None:
    """lpa_try_jsonb_object catches bad JSON in a subtransaction, which a parallel plan
    forbids: forced parallel mode must still parse (the function is parallel unsafe, so the
    planner keeps such queries serial)."""
    rows = query_postgres(
        sample_postgres,
        "set force_parallel_mode = on; "
        "select count(public.lpa_try_jsonb_object(_line)) as parsed, count(*) as lines "
        "from (select _line from raw_amplitude.events limit 50) as sample_lines",
    )
    assert rows[0]["lines"] == 50 and rows[0]["parsed"] > 0


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_planted_persons_are_recovered_exactly(sample, sample_duckdb: Path) -> None:
    raw, truth = sample
    [row] = query_duckdb(sample_duckdb, "select count(*) as n from marts.dim_persons")
    assert row["n"] == truth["true_persons"]
    [identified] = query_duckdb(
        sample_duckdb, "select count(*) as n from marts.dim_persons where is_identified"
    )
    assert identified["n"] == truth["identified_persons"]


def test_identity_map_partitions_identifiers_like_the_truth(sample, sample_duckdb: Path) -> None:
    """Outside shared devices (split by time, see the next test), our persons and the true
    persons are the same partition of every identifier: a bijection."""
    raw, _ = sample
    shared = {
        r["identifier"]
        for r in query_duckdb(
            sample_duckdb,
            "select identifier from marts.rpt_identity_conflicts"
            " where conflict_type = 'shared_device'",
        )
    }
    ours = {
        (r["identifier_type"], r["identifier"]): r["person_id"]
        for r in query_duckdb(sample_duckdb, "select * from marts.dim_identity_map")
        if r["identifier"] not in shared
    }
    pairs = set()
    for row in _read_csv(raw / "ground_truth" / "identity.csv"):
        if row["identifier"] in shared:
            continue
        key = (row["identifier_type"], row["identifier"])
        assert key in ours, key
        pairs.add((ours[key], row["true_person_id"]))
    ours_to_true = collections.Counter(p for p, _ in pairs)
    true_to_ours = collections.Counter(t for _, t in pairs)
    assert max(ours_to_true.values()) == 1 and max(true_to_ours.values()) == 1


def test_shared_device_events_go_to_their_true_person(sample, sample_duckdb: Path) -> None:
    raw, _ = sample
    truth = _read_csv(raw / "ground_truth" / "shared_device_events.csv")
    assert truth, "the sample plants shared devices"
    got = {
        r["amplitude_event_id"]: r["person_id"]
        for r in query_duckdb(
            sample_duckdb,
            "select stg.amplitude_event_id, events.person_id from marts.fct_events as events"
            " inner join staging.stg_amplitude__events as stg"
            " on events.event_id = md5('amplitude|' || stg.amplitude_event_id)",
        )
    }
    for row in truth:
        expected = hashlib.md5(f"user:{row['true_user_id']}".encode()).hexdigest()
        assert got[row["uuid"]] == expected, row["uuid"]


@pytest.mark.parametrize("adapter", ["duckdb", "postgres"])
def test_planted_funnel_is_recovered(adapter: str, sample, request) -> None:
    """The default funnel (page_view -> query_submitted -> workflow_completed ->
    result_exported, 24 h, this_order) reaches exactly the persons the generator's own
    reference implementation counts on the true event log, and its step rates sit near the
    planted per-attempt probabilities (persons retry, so the person-level rate is higher)."""
    _, truth = sample
    if adapter == "duckdb":
        rows = query_duckdb(
            request.getfixturevalue("sample_duckdb"),
            "select * from marts.rpt_funnel_conversion where breakdown_value = '(all)'",
        )
    else:
        rows = query_postgres(
            request.getfixturevalue("sample_postgres"),
            "select * from marts.rpt_funnel_conversion where breakdown_value = '(all)'",
        )
    rows.sort(key=lambda r: r["step_index"])
    assert [r["step_name"] for r in rows] == truth["funnel"]["steps"]
    assert [r["persons"] for r in rows] == truth["funnel"]["realized"]["persons_reaching"]
    planted = truth["funnel"]["planted_step_probabilities"]
    for row, p in zip(rows[1:], planted[1:], strict=True):
        assert row["conversion_from_previous"] >= p - 0.15, row["step_name"]
