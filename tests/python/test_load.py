"""`lpa load`: raw files land in PostgreSQL unchanged, reconciled, idempotently.

Raw directories are built here from scratch with awkward content, so every expectation is the
file's own text, not another implementation's output.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import psycopg2
import pytest

from llm_product_analytics.load import DIFY_COLUMNS, LoadError, load

OPTIONAL = ("app_model_configs", "accounts")
REQUIRED = tuple(t for t in DIFY_COLUMNS if t not in OPTIONAL)

EVENTS_0 = "amplitude/2026-07-20/434735_2026-07-20_9#0.json.gz"
EVENTS_1 = "amplitude/2026-07-20/434735_2026-07-20_9#1.json.gz"
EVENTS_NESTED = "amplitude/434735/2026-07-21/434735_2026-07-21_0#0.json.gz"
MERGE = "amplitude/merge_ids/434735_2026-07-20_9.json.gz"

# File text as delivered: '\n' line ends, empty lines (not records), and a last line without
# its '\n'. Every other line is a record, valid JSON or not.
AWKWARD_EVENTS = "\n".join(
    [
        '{"uuid": "u-1", "event_type": "query_submitted", "event_properties": {"q": "a, \\"b\\""}}',
        "",
        '{"uuid": "u-2", "note": "back\\\\slash \\\\N \\\\. and a raw\ttab"}',
        '{"uuid": "u-3", "text": "unicode: ü ß 東京 😀 \u2028 \u00a0 end"}',
        '{"uuid": "u-bad", "event_type": "page_view", ',  # invalid JSON, still a record
        "\\.",  # COPY's end-of-data marker in text/CSV: must land as data
        '"just a quoted string", with, commas',
        "   ",  # whitespace only: not empty, so a record
        "\\N",
        "NULL",
        "",
        '{"uuid": "u-crlf"}\r',  # a stray \r is part of the line
        '{"uuid": "u-last", "no_final_newline": true}',
    ]
)
MERGE_TEXT = (
    '{"scope": 434735, "merge_time": 1784538843004, "merge_server_time": 1784538846530, '
    '"amplitude_id": 812345678901, "merged_amplitude_id": 700123456789}\nnot json at all\n'
)


def records(text: str) -> list[str]:
    return [line for line in text.split("\n") if line != ""]


def write_gz(root: Path, name: str, text: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    with gzip.open(path, "wb") as handle:
        handle.write(data)
    return path


def csv_field(value: str | None) -> str:
    """PostgreSQL's own CSV writer: NULL unquoted empty, quotes only when needed."""
    if value is None:
        return ""
    if value == "" or value == "\\." or any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_csv(root: Path, table: str, rows: list[dict[str, str | None]], header=None) -> Path:
    columns = list(DIFY_COLUMNS[table])
    path = root / "dify" / f"{table}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header if header is not None else columns)]
    lines += [",".join(csv_field(row.get(c)) for c in columns) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


AWKWARD_MESSAGES = [
    {
        "id": "m-1",
        "query": 'comma, "quotes" and \\backslash\\',
        "answer": "line one\nline two\r\nline three",
        "message_metadata": '{"usage": {"total_tokens": 12}, "note": "a, \\"b\\""}',
        "error": None,  # NULL
        "currency": "",  # empty string
        "inputs": "{}",
        "status": "normal",
    },
    {
        "id": "m-2",
        "query": "tab\there 東京 😀",
        "answer": "\\.",
        "message_metadata": "\\N",
        "error": "",
        "currency": None,
        "inputs": " leading and trailing space ",
        "status": "error",
    },
    {"id": "m-3"},  # everything else NULL
]


def make_raw(root: Path, optional: bool = True) -> Path:
    """A complete delivery: three event files, merge ids, every Dify table."""
    write_gz(root, EVENTS_0, AWKWARD_EVENTS)
    write_gz(root, EVENTS_1, '{"uuid": "u-1"}\n{"uuid": "u-9"}\n')
    write_gz(root, EVENTS_NESTED, '{"uuid": "u-10"}\n')
    write_gz(root, MERGE, MERGE_TEXT)
    for table in REQUIRED:
        rows = AWKWARD_MESSAGES if table == "messages" else [{"id": f"{table}-1"}]
        write_csv(root, table, rows)
    if optional:
        for table in OPTIONAL:
            write_csv(root, table, [{"id": f"{table}-1", "created_at": "2026-07-20 09:14:03"}])
    return root


def query(params: dict, sql: str, args: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(**params)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def lines_of(params: dict, table: str, file_name: str) -> list[str]:
    rows = query(params, f"select _line from {table} where _file_name = %s", (file_name,))
    return [r[0] for r in rows]


def manifest(params: dict) -> dict[str, tuple]:
    rows = query(
        params,
        "select file_name, target_table, size_bytes, sha256, row_count, row_checksum, loaded_at "
        "from raw_meta.load_manifest",
    )
    return {r[0]: r[1:] for r in rows}


def table_counts(params: dict) -> dict[str, int]:
    tables = ["raw_amplitude.events", "raw_amplitude.merge_ids"]
    tables += [f"raw_dify.{t}" for t in DIFY_COLUMNS]
    return {t: query(params, f"select count(*) from {t}")[0][0] for t in tables}


def contract_checksum(row_texts: list[str]) -> int:
    # The contract's definition, spelled out independently of the loader.
    return sum(int(hashlib.md5(t.encode("utf-8")).hexdigest()[:15], 16) for t in row_texts)


# ------------------------------------------------------------------------------------------


def test_amplitude_lines_land_verbatim(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw")
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    report = load(raw_dir=raw, conn_params=fresh_database)
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    for name, text, table in [
        (EVENTS_0, AWKWARD_EVENTS, "raw_amplitude.events"),
        (EVENTS_1, '{"uuid": "u-1"}\n{"uuid": "u-9"}\n', "raw_amplitude.events"),
        (EVENTS_NESTED, '{"uuid": "u-10"}\n', "raw_amplitude.events"),
        (MERGE, MERGE_TEXT, "raw_amplitude.merge_ids"),
    ]:
        landed = lines_of(fresh_database, table, name)
        assert Counter(landed) == Counter(records(text)), name
        entry = manifest(fresh_database)[name]
        assert entry[0] == table
        assert entry[1] == (raw / name).stat().st_size
        assert entry[2] == hashlib.sha256((raw / name).read_bytes()).hexdigest()
        assert entry[3] == len(records(text))
        assert int(entry[4]) == contract_checksum(records(text))

    assert len(records(AWKWARD_EVENTS)) == 11
    assert table_counts(fresh_database)["raw_amplitude.events"] == 11 + 2 + 1
    # Nothing but the files' own rows; merge_ids are not mixed into events.
    assert query(fresh_database, "select distinct _file_name from raw_amplitude.merge_ids") == [
        (MERGE,)
    ]

    # _loaded_at: the load transaction's timestamp, naive UTC, same as the manifest's.
    stamps = query(
        fresh_database,
        "select e._file_name, min(e._loaded_at), max(e._loaded_at), m.loaded_at "
        "from raw_amplitude.events e join raw_meta.load_manifest m on m.file_name = e._file_name "
        "group by e._file_name, m.loaded_at",
    )
    for _, low, high, in_manifest in stamps:
        assert low == high == in_manifest
        assert low.tzinfo is None
        assert before - dt.timedelta(seconds=5) <= low <= after + dt.timedelta(seconds=5)

    assert {f.name: f.status for f in report.files} == {
        **{n: "loaded" for n in (EVENTS_0, EVENTS_1, EVENTS_NESTED, MERGE)},
        **{f"dify/{t}.csv": "loaded" for t in DIFY_COLUMNS},
    }
    assert [f.name for f in report.files] == sorted(f.name for f in report.files)


def test_dify_null_and_empty_string_preserved(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw")
    load(raw_dir=raw, conn_params=fresh_database)
    columns = list(DIFY_COLUMNS["messages"])
    rows = query(
        fresh_database,
        "select " + ", ".join(f'"{c}"' for c in columns) + ", _file_name from raw_dify.messages",
    )
    landed = {r[0]: dict(zip(columns + ["_file_name"], r, strict=True)) for r in rows}
    assert set(landed) == {"m-1", "m-2", "m-3"}
    for expected in AWKWARD_MESSAGES:
        got = landed[expected["id"]]
        assert got["_file_name"] == "dify/messages.csv"
        for column in columns:
            assert got[column] == expected.get(column), (expected["id"], column)
    # The distinction itself, spelled out.
    assert landed["m-1"]["error"] is None and landed["m-1"]["currency"] == ""
    assert landed["m-2"]["error"] == "" and landed["m-2"]["currency"] is None

    row_texts = [
        "\x1f".join(m.get(c) or "" for c in columns)  # NULL written as ''
        for m in AWKWARD_MESSAGES
    ]
    entry = manifest(fresh_database)["dify/messages.csv"]
    assert (entry[0], entry[3], int(entry[4])) == (
        "raw_dify.messages",
        3,
        contract_checksum(row_texts),
    )


def test_table_shapes(tmp_path: Path, fresh_database: dict) -> None:
    load(raw_dir=make_raw(tmp_path / "raw"), conn_params=fresh_database)

    def shape(schema: str, table: str) -> list[tuple[str, str]]:
        return query(
            fresh_database,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )

    amplitude = [("_file_name", "text"), ("_line", "text"), ("_loaded_at", "timestamp")]
    amplitude = [(c, t if t == "text" else "timestamp without time zone") for c, t in amplitude]
    assert shape("raw_amplitude", "events") == amplitude
    assert shape("raw_amplitude", "merge_ids") == amplitude
    for table, columns in DIFY_COLUMNS.items():
        assert shape("raw_dify", table) == [(c, "text") for c in columns] + [
            ("_file_name", "text"),
            ("_loaded_at", "timestamp without time zone"),
        ]
    assert shape("raw_meta", "load_manifest") == [
        ("file_name", "text"),
        ("target_table", "text"),
        ("size_bytes", "bigint"),
        ("sha256", "text"),
        ("row_count", "bigint"),
        ("row_checksum", "numeric"),
        ("loaded_at", "timestamp without time zone"),
    ]


def test_second_load_skips_everything(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw")
    first = load(raw_dir=raw, conn_params=fresh_database)
    counts, entries = table_counts(fresh_database), manifest(fresh_database)

    second = load(raw_dir=raw, conn_params=fresh_database)
    assert {f.status for f in second.files} == {"skipped"}
    assert [(f.name, f.rows) for f in second.files] == [(f.name, f.rows) for f in first.files]
    assert table_counts(fresh_database) == counts
    assert manifest(fresh_database) == entries
    assert second.summary_lines()[0].startswith("files: 0 loaded, 13 skipped")


def test_changed_file_refused_then_replaced(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw")
    load(raw_dir=raw, conn_params=fresh_database)
    counts, entries = table_counts(fresh_database), manifest(fresh_database)

    new_events = '{"uuid": "u-1", "fixed": true}\n{"uuid": "u-9"}\n{"uuid": "u-11"}\n'
    write_gz(raw, EVENTS_1, new_events)
    new_messages = [{"id": "m-1", "query": "only one now", "error": ""}]
    write_csv(raw, "messages", new_messages)

    with pytest.raises(LoadError) as refused:
        load(raw_dir=raw, conn_params=fresh_database)
    message = str(refused.value)
    assert f"file {EVENTS_1} changed since it was loaded" in message
    assert entries[EVENTS_1][2] in message  # the old sha256
    assert "--replace" in message
    assert table_counts(fresh_database) == counts
    assert manifest(fresh_database) == entries

    report = load(raw_dir=raw, replace=True, conn_params=fresh_database)
    status = {f.name: f.status for f in report.files}
    assert status[EVENTS_1] == "replaced" and status["dify/messages.csv"] == "replaced"
    assert {s for n, s in status.items() if n not in (EVENTS_1, "dify/messages.csv")} == {"skipped"}
    landed = lines_of(fresh_database, "raw_amplitude.events", EVENTS_1)
    assert Counter(landed) == Counter(records(new_events))  # no duplicates, no old rows
    assert lines_of(fresh_database, "raw_amplitude.events", EVENTS_0)  # others untouched
    assert query(fresh_database, "select id, query, error, answer from raw_dify.messages") == [
        ("m-1", "only one now", "", None)
    ]
    after = manifest(fresh_database)
    assert after[EVENTS_1][2] == hashlib.sha256((raw / EVENTS_1).read_bytes()).hexdigest()
    assert after[EVENTS_1][3] == 3
    assert after[EVENTS_1][5] > entries[EVENTS_1][5]  # new load timestamp
    assert after[EVENTS_0] == entries[EVENTS_0]

    # And a third run (replace or not) has nothing left to do.
    again = load(raw_dir=raw, replace=True, conn_params=fresh_database)
    assert {f.status for f in again.files} == {"skipped"}


def test_mismatch_rolls_the_file_back(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw")
    load(raw_dir=raw, conn_params=fresh_database)
    counts, entries = table_counts(fresh_database), manifest(fresh_database)

    new_file = "amplitude/2026-07-22/434735_2026-07-22_3#0.json.gz"
    write_gz(raw, new_file, '{"uuid": "n-1"}\n{"uuid": "n-2"}\n{"uuid": "n-3"}\n')
    seen = []

    def lose_a_row(cur, file_name: str, table: str) -> None:
        # Simulates a row lost between COPY and reconciliation.
        seen.append(file_name)
        if file_name == new_file:
            cur.execute(
                f"delete from {table} where ctid = "
                f"(select min(ctid) from {table} where _file_name = %s)",
                (file_name,),
            )

    with pytest.raises(LoadError) as failed:
        load(raw_dir=raw, conn_params=fresh_database, _tamper=lose_a_row)
    message = str(failed.value)
    assert new_file in message
    assert "rows 3 in file vs 2 in database" in message
    file_sum = contract_checksum(['{"uuid": "n-1"}', '{"uuid": "n-2"}', '{"uuid": "n-3"}'])
    assert f"checksum {file_sum} in file vs " in message
    assert new_file in seen  # the hook really ran on that file
    # Rolled back: no row of the file, no manifest entry, everything else unchanged.
    assert lines_of(fresh_database, "raw_amplitude.events", new_file) == []
    assert table_counts(fresh_database) == counts
    assert manifest(fresh_database) == entries

    # Without the fault the same file loads.
    report = load(raw_dir=raw, conn_params=fresh_database)
    assert [f.name for f in report.files if f.status == "loaded"] == [new_file]


def test_csv_the_two_parsers_read_differently_is_rolled_back(
    tmp_path: Path, fresh_database: dict
) -> None:
    # `x"y"z` unquoted: Python's csv keeps the quotes, PostgreSQL treats them as quoting and
    # lands `xyz`. Same row count, different text: only the checksum can notice.
    raw = make_raw(tmp_path / "raw")
    path = raw / "dify" / "messages.csv"
    header = ",".join(DIFY_COLUMNS["messages"])
    width = len(DIFY_COLUMNS["messages"])
    path.write_text(f'{header}\nm-1,x"y"z{"," * (width - 2)}\n', encoding="utf-8")

    with pytest.raises(LoadError) as failed:
        load(raw_dir=raw, conn_params=fresh_database)
    message = str(failed.value)
    assert "dify/messages.csv" in message and "rows 1 in file vs 1 in database" in message
    assert "checksum" in message
    assert query(fresh_database, "select count(*) from raw_dify.messages") == [(0,)]
    assert "dify/messages.csv" not in manifest(fresh_database)
    # Files sorted before it were committed in their own transactions.
    assert "dify/message_feedbacks.csv" in manifest(fresh_database)


def test_data_postgresql_refuses_is_rolled_back(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw")
    write_gz(raw, EVENTS_0, b'{"ok": 1}\n{"nul": "\x00"}\n')  # text cannot hold NUL
    with pytest.raises(LoadError, match=f"{EVENTS_0}.*0x00"):
        load(raw_dir=raw, conn_params=fresh_database)
    assert table_counts(fresh_database)["raw_amplitude.events"] == 0
    assert manifest(fresh_database) == {}


def test_optional_tables_created_empty(tmp_path: Path, fresh_database: dict) -> None:
    raw = make_raw(tmp_path / "raw", optional=False)
    report = load(raw_dir=raw, conn_params=fresh_database)
    assert report.created_empty == ["raw_dify.accounts", "raw_dify.app_model_configs"]
    counts = table_counts(fresh_database)
    assert counts["raw_dify.accounts"] == 0 and counts["raw_dify.app_model_configs"] == 0
    assert any("raw_dify.accounts" in line for line in report.summary_lines())
    # A header-only file is fine too.
    write_csv(raw, "accounts", [])
    report = load(raw_dir=raw, conn_params=fresh_database)
    assert [(f.name, f.rows, f.status) for f in report.files if f.status == "loaded"] == [
        ("dify/accounts.csv", 0, "loaded")
    ]


def test_connects_through_pg_environment(
    tmp_path: Path, fresh_database: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, var in [
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("user", "PGUSER"),
        ("dbname", "PGDATABASE"),
    ]:
        monkeypatch.setenv(var, str(fresh_database[key]))
    report = load(raw_dir=make_raw(tmp_path / "raw"))
    assert report.count("loaded") == 13
    assert table_counts(fresh_database)["raw_dify.messages"] == 3


def test_summary_lines(tmp_path: Path, fresh_database: dict) -> None:
    report = load(raw_dir=make_raw(tmp_path / "raw"), conn_params=fresh_database)
    lines = report.summary_lines()
    assert lines[0] == "files: 13 loaded, 0 skipped (unchanged), 0 replaced"
    assert "  raw_amplitude.events: 14 rows in 3 files (14 landed now)" in lines
    assert "  raw_dify.messages: 3 rows in 1 file (3 landed now)" in lines


# --- refused before connecting: these need no database ---------------------------------------

NO_SERVER = {"host": "127.0.0.1", "port": "1", "dbname": "none", "connect_timeout": 1}


def test_missing_required_tables_named(tmp_path: Path) -> None:
    raw = make_raw(tmp_path / "raw")
    (raw / "dify" / "messages.csv").unlink()
    (raw / "dify" / "workflow_runs.csv").unlink()
    with pytest.raises(LoadError, match=r"required .*missing.*messages\.csv, workflow_runs\.csv"):
        load(raw_dir=raw, conn_params=NO_SERVER)


def test_header_mismatch_named(tmp_path: Path) -> None:
    raw = make_raw(tmp_path / "raw")
    header = list(DIFY_COLUMNS["end_users"])
    header[header.index("external_user_id")] = "external_id"
    write_csv(raw, "end_users", [], header=header)
    with pytest.raises(LoadError) as failed:
        load(raw_dir=raw, conn_params=NO_SERVER)
    message = str(failed.value)
    assert "dify/end_users.csv" in message
    assert "missing columns ['external_user_id']" in message
    assert "unexpected columns ['external_id']" in message

    swapped = list(DIFY_COLUMNS["end_users"])
    swapped[0], swapped[1] = swapped[1], swapped[0]
    write_csv(raw, "end_users", [], header=swapped)
    with pytest.raises(LoadError, match="end_users.csv.*different order"):
        load(raw_dir=raw, conn_params=NO_SERVER)


def test_unknown_csv_refused(tmp_path: Path) -> None:
    raw = make_raw(tmp_path / "raw")
    shutil.copy(raw / "dify" / "apps.csv", raw / "dify" / "tenants.csv")
    with pytest.raises(LoadError, match="unknown Dify table file.*tenants.csv"):
        load(raw_dir=raw, conn_params=NO_SERVER)


def test_missing_raw_dir(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="does not exist"):
        load(raw_dir=tmp_path / "nope", conn_params=NO_SERVER)
