"""Access and personal data (docs block pii_policy), on generated sample data with planted PII.

PostgreSQL: the build creates the BI role (var bi_reader_role) and grants it the marts only. A
login user in that role reads every marts table and gets `permission denied` on every raw_*,
staging and intermediate table, also after a mart was rebuilt. DuckDB: the same project builds
without a grants warning. On both: no marts text value holds an email or IPv4 address or any
known personal value of the raw files (account emails and login IPs, Amplitude IP addresses,
Dify queries, answers, feedback text, workflow outputs, planted emails and IPs), and the
keep_pii opt-in brings the planted values back (so the scan can fail).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import shutil
import uuid
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from llm_product_analytics.generate import generate
from llm_product_analytics.generate_dify_sql import MESSAGE_ERRORS, RUN_ERRORS

from dbt_harness import postgres_warehouse, query_duckdb, query_postgres, run_dbt

SAMPLE = {"users": 120, "days": 10, "seed": 42}
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")

# Planted in the raw files: an Amplitude event property dropped by name (var
# pii_property_keys), one masked by pattern, and Dify error texts with an email and an IP.
PLANTED_PROPERTY_EMAIL = "planted.person@pii.example"
PLANTED_NOTE_EMAIL = "planted.note@pii.example"
PLANTED_NOTE_IP = "203.0.113.77"
PLANTED_MESSAGE_ERROR = "[openai] Rate limited for planted.err@pii.example from 10.20.30.40"
PLANTED_RUN_ERROR = "Node Code run failed: bad input from planted.run@pii.example at 10.9.8.7"
PLANTED = [
    PLANTED_PROPERTY_EMAIL,
    PLANTED_NOTE_EMAIL,
    PLANTED_NOTE_IP,
    "planted.err@pii.example",
    "10.20.30.40",
    "planted.run@pii.example",
    "10.9.8.7",
]

GRANTS_WARNING = "Grants for relations are not supported"
CLOSED_SCHEMAS = ("raw_amplitude", "raw_dify", "raw_meta", "staging", "intermediate")
PG_TEXT_TYPES = ("text", "character varying", "json", "jsonb")
DUCKDB_TEXT_TYPES = ("VARCHAR", "JSON")


def _json_or_none(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _plant_amplitude(raw: Path) -> None:
    """Add PII properties to the first page_view of the first file that has one."""
    for path in sorted((raw / "amplitude").glob("2026-*/*.json.gz")):
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        for i, line in enumerate(lines):
            event = _json_or_none(line)
            if event and event.get("event_type") == "page_view":
                event["event_properties"].update(
                    email=PLANTED_PROPERTY_EMAIL,
                    note=f"reach me at {PLANTED_NOTE_EMAIL} from {PLANTED_NOTE_IP}",
                )
                lines[i] = json.dumps(event, separators=(",", ":"))
                path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
                return
    raise AssertionError("no page_view event to plant PII in")


def _replace_in_file(path: Path, olds: tuple[str, ...], new: str) -> None:
    """Every generated error text in a Dify CSV becomes `new` (no comma or quote: the CSV
    quoting around it stays valid)."""
    text = path.read_text()
    assert any(old in text for old in olds), f"no error text in {path}"
    for old in olds:
        text = text.replace(old, new)
    path.write_text(text)


def _known_pii(raw: Path) -> set[str]:
    """Personal values of the raw sample that must never reach a mart in clear."""
    values: set[str] = set(PLANTED)

    def column(table: str, name: str) -> list[str]:
        with (raw / "dify" / f"{table}.csv").open(newline="") as f:
            return [row[name] for row in csv.DictReader(f) if row[name]]

    values.update(column("accounts", "email"))
    values.update(column("accounts", "last_login_ip"))
    values.update(column("messages", "query"))
    values.update(column("messages", "answer"))
    values.update(column("message_feedbacks", "content"))
    for outputs in column("workflow_runs", "outputs"):
        values.update(v for v in json.loads(outputs).values() if isinstance(v, str) and v)
    for path in (raw / "amplitude").glob("2026-*/*.json.gz"):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            event = _json_or_none(line)  # the sample plants bad lines
            if isinstance(event, dict) and isinstance(event.get("ip_address"), str):
                values.add(event["ip_address"])
    return values


@pytest.fixture(scope="module")
def pii_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    raw = tmp_path_factory.mktemp("access_raw")
    generate(out_dir=raw, **SAMPLE)
    _plant_amplitude(raw)
    _replace_in_file(raw / "dify" / "messages.csv", MESSAGE_ERRORS, PLANTED_MESSAGE_ERROR)
    # Longest first: the LLM node's error contains a message error.
    run_errors = tuple(sorted(RUN_ERRORS, key=len, reverse=True))
    _replace_in_file(raw / "dify" / "workflow_runs.csv", run_errors, PLANTED_RUN_ERROR)
    known = _known_pii(raw)
    # The sample really carries each kind of personal data the scan looks for.
    assert sum(bool(EMAIL.fullmatch(v)) for v in known) >= 3 + 3  # accounts + planted
    assert sum(bool(IPV4.fullmatch(v)) for v in known) >= 10
    assert len(known) >= 40
    return raw, known


def _scan(rows_by_column: dict[str, list], known: set[str]) -> list[str]:
    """Findings: `table.column: value` for every value that is or holds personal data."""
    findings = []
    for where, values in rows_by_column.items():
        for value in values:
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            if EMAIL.search(text) or IPV4.search(text) or any(k in text for k in known):
                findings.append(f"{where}: {text[:200]}")
    return findings


def _marts_text_values(columns: list[dict], query) -> dict[str, list]:
    by_table: dict[str, list[str]] = {}
    for c in columns:
        by_table.setdefault(c["table_name"], []).append(c["column_name"])
    values = {}
    for table, names in by_table.items():
        rows = query(f"select {', '.join(names)} from marts.{table}")
        for name in names:
            values[f"{table}.{name}"] = [r[name] for r in rows]
    return values


# ---------------------------------------------------------------- DuckDB


@pytest.fixture(scope="module")
def duckdb_build(pii_raw, tmp_path_factory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("access_duckdb")
    result = run_dbt(["build"], target="duckdb", raw_path=pii_raw[0], work_dir=work)
    return work / "warehouse.duckdb", result.stdout


def _duckdb_text_columns(path: Path) -> list[dict]:
    types = ", ".join(f"'{t}'" for t in DUCKDB_TEXT_TYPES)
    return query_duckdb(
        path,
        "select table_name, column_name from information_schema.columns"
        f" where table_schema = 'marts' and data_type in ({types})"
        " order by table_name, ordinal_position",
    )


def test_duckdb_build_has_no_grants(duckdb_build) -> None:
    path, stdout = duckdb_build
    assert "Completed successfully" in stdout
    assert GRANTS_WARNING not in stdout
    marts = "select 1 from information_schema.tables where table_schema = 'marts'"
    assert len(query_duckdb(path, marts)) >= 20


def test_duckdb_marts_hold_no_pii(duckdb_build, pii_raw) -> None:
    path, _ = duckdb_build
    columns = _duckdb_text_columns(path)
    assert {"fct_events.properties", "fct_llm_messages.error_message"} <= {
        f"{c['table_name']}.{c['column_name']}" for c in columns
    }
    values = _marts_text_values(columns, lambda sql: query_duckdb(path, sql))
    assert _scan(values, pii_raw[1]) == []
    # The planted rows are there, with the personal parts dropped or masked.
    props = [json.loads(p) for p in values["fct_events.properties"] if p and "reach me at" in p]
    assert props == [{"page": props[0]["page"], "note": "reach me at <email> from <ip>"}]
    assert "[openai] Rate limited for <email> from <ip>" in values["fct_llm_messages.error_message"]
    assert (
        "Node Code run failed: bad input from <email> at <ip>"
        in values["fct_workflow_runs.error_message"]
    )


def test_duckdb_keep_pii_keeps_clear_values(duckdb_build, pii_raw, tmp_path) -> None:
    """The opt-in: the same marts rebuilt with keep_pii hold the planted values in clear
    (a var that changes history needs a full refresh of the incremental models)."""
    path, _ = duckdb_build
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(path, copy)
    run_dbt(
        [
            "run",
            "--full-refresh",
            "--select",
            "fct_events",
            "fct_llm_messages",
            "fct_workflow_runs",
        ],
        target="duckdb",
        raw_path=pii_raw[0],
        work_dir=tmp_path,
        duckdb_path=copy,
        extra_vars={"keep_pii": True},
    )
    columns = [
        c
        for c in _duckdb_text_columns(copy)
        if c["table_name"] in ("fct_events", "fct_llm_messages", "fct_workflow_runs")
    ]
    findings = "\n".join(
        _scan(_marts_text_values(columns, lambda sql: query_duckdb(copy, sql)), pii_raw[1])
    )
    for value in PLANTED:
        assert value in findings


def _show(target: str, sql: str, raw: Path, work: Path, pg_params=None) -> list[dict]:
    result = run_dbt(
        ["show", "--inline", sql, "--output", "json", "--log-format", "json"],
        target=target,
        raw_path=raw,
        work_dir=work,
        pg_params=pg_params,
    )
    for line in result.stdout.splitlines():
        data = json.loads(line).get("data", {})
        if "preview" in data:
            return json.loads(data["preview"])
    raise AssertionError(f"no preview in dbt show output:\n{result.stdout[-3000:]}")


HASH_SQL = (
    "select {{ lpa_pii(\"'ada@acme.example'\") }} as hashed,"
    " {{ lpa_pii('cast(null as varchar)') }} as hashed_null"
)


def _expected_hash(salt: str) -> str:
    return hashlib.sha256((salt + "ada@acme.example").encode()).hexdigest()


def test_duckdb_pii_hash_is_salted_sha256(pii_raw, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LPA_PII_SALT", "pepper-1")
    rows = _show("duckdb", HASH_SQL, pii_raw[0], tmp_path)
    assert rows == [{"hashed": _expected_hash("pepper-1"), "hashed_null": None}]


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_access(pii_raw, postgres_available, tmp_path_factory):
    """The sample built on a fresh database with a test-only BI role (created by the build),
    and a login user in it; yields (superuser params, BI user params, role, work dir)."""
    suffix = uuid.uuid4().hex[:8]
    role, login = f"lpa_bi_{suffix}", f"lpa_bi_login_{suffix}"
    work = tmp_path_factory.mktemp("access_postgres")
    admin = psycopg2.connect(**postgres_available)
    admin.autocommit = True
    try:
        with postgres_warehouse(
            postgres_available, pii_raw[0], work, extra_vars={"bi_reader_role": role}
        ) as params:
            with admin.cursor() as cur:
                cur.execute(f"create role {login} login password 'bi-test' in role {role}")
            yield params, {**params, "user": login, "password": "bi-test"}, role, work
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop role if exists {login}")
            cur.execute(f"drop role if exists {role}")
        admin.close()


def _tables(params: dict, schemas: tuple[str, ...]) -> dict[str, list[str]]:
    rows = query_postgres(
        params,
        "select table_schema, table_name from information_schema.tables"
        f" where table_schema in ({', '.join(repr(s) for s in schemas)})"
        " order by 1, 2",
    )
    out: dict[str, list[str]] = {s: [] for s in schemas}
    for r in rows:
        out[r["table_schema"]].append(r["table_name"])
    return out


def _assert_access(params: dict, bi: dict) -> None:
    marts = _tables(params, ("marts",))["marts"]
    closed = _tables(params, CLOSED_SCHEMAS)
    assert len(marts) >= 20
    assert len(closed["raw_amplitude"]) == 2 and len(closed["raw_dify"]) >= 9
    assert len(closed["staging"]) >= 10 and len(closed["intermediate"]) >= 5
    assert closed["raw_meta"] == ["load_manifest"]
    conn = psycopg2.connect(**bi)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for table in marts:
                cur.execute(f"select count(*) from marts.{table}")
                (count,) = cur.fetchone()
                expected = query_postgres(params, f"select count(*) as n from marts.{table}")
                assert count == expected[0]["n"], table
            for schema, tables in closed.items():
                for table in tables:
                    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                        cur.execute(f"select 1 from {schema}.{table} limit 1")
    finally:
        conn.close()


def test_postgres_build_creates_nologin_role(pg_access) -> None:
    params, _, role, _ = pg_access
    rows = query_postgres(
        params, f"select rolcanlogin from pg_catalog.pg_roles where rolname = '{role}'"
    )
    assert rows == [{"rolcanlogin": False}]
    privileges = query_postgres(
        params,
        "select nspname, has_schema_privilege("
        f"'{role}', nspname, 'USAGE') as usage, has_schema_privilege('{role}', nspname, 'CREATE')"
        " as can_create from pg_catalog.pg_namespace"
        f" where nspname in ('marts', {', '.join(repr(s) for s in CLOSED_SCHEMAS)})"
        " order by nspname",
    )
    assert {r["nspname"]: (r["usage"], r["can_create"]) for r in privileges} == {
        "marts": (True, False),
        **{s: (False, False) for s in CLOSED_SCHEMAS},
    }


def test_postgres_bi_user_reads_marts_only(pg_access) -> None:
    params, bi, _, _ = pg_access
    _assert_access(params, bi)


def test_postgres_grants_survive_a_rebuild(pg_access, pii_raw) -> None:
    """dbt re-creates a table on every run; its grant comes back with it (and the role that
    already exists is no error). An incremental model (rpt_daily_kpis) keeps its table and
    its grant."""
    params, bi, role, work = pg_access
    before = query_postgres(
        params, "select oid from pg_catalog.pg_class where relname = 'rpt_retention'"
    )
    run_dbt(
        ["run", "--select", "rpt_retention", "rpt_daily_kpis", "stg_dify__apps"],
        target="postgres",
        raw_path=pii_raw[0],
        work_dir=work,
        pg_params=params,
        extra_vars={"bi_reader_role": role},
    )
    after = query_postgres(
        params, "select oid from pg_catalog.pg_class where relname = 'rpt_retention'"
    )
    assert before != after  # really a new table
    _assert_access(params, bi)


def test_postgres_marts_hold_no_pii(pg_access, pii_raw) -> None:
    """What the BI user can read holds no personal data in clear."""
    params, bi, _, _ = pg_access
    types = ", ".join(repr(t) for t in PG_TEXT_TYPES)
    columns = query_postgres(
        params,
        "select table_name, column_name from information_schema.columns"
        f" where table_schema = 'marts' and data_type in ({types})"
        " order by table_name, ordinal_position",
    )
    values = _marts_text_values(columns, lambda sql: query_postgres(bi, sql))
    assert _scan(values, pii_raw[1]) == []
    assert "[openai] Rate limited for <email> from <ip>" in values["fct_llm_messages.error_message"]
    props = [json.loads(p) for p in values["fct_events.properties"] if p and "reach me" in p]
    assert [p["note"] for p in props] == ["reach me at <email> from <ip>"]
    assert "email" not in props[0]


def test_postgres_pii_hash_is_salted_sha256(pg_access, pii_raw, tmp_path, monkeypatch) -> None:
    params = pg_access[0]
    monkeypatch.setenv("LPA_PII_SALT", "pepper-1")
    rows = _show("postgres", HASH_SQL, pii_raw[0], tmp_path, pg_params=params)
    assert rows == [{"hashed": _expected_hash("pepper-1"), "hashed_null": None}]
