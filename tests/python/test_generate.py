"""Tests of the sample-data generator against docs/input-contract.md.

Everything is checked from the written files, independently of the generator's own counts.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from llm_product_analytics.contract import AMPLITUDE_EVENT_KEYS
from llm_product_analytics.contract import DIFY_COLUMNS as CONTRACT_DIFY_COLUMNS
from llm_product_analytics.generate import generate

USERS, DAYS = 60, 10

# The input contract (docs/input-contract.md), shared with the loader and the dbt macros.
AMPLITUDE_KEYS = list(AMPLITUDE_EVENT_KEYS)
TIME_KEYS = [
    "client_event_time", "client_upload_time", "event_time", "processed_time",
    "server_received_time", "server_upload_time", "user_creation_time",
]  # fmt: skip
MERGE_KEYS = ["scope", "merge_time", "merge_server_time", "amplitude_id", "merged_amplitude_id"]

DIFY_COLUMNS = {table: list(columns) for table, columns in CONTRACT_DIFY_COLUMNS.items()}

EVENT_FILE = re.compile(
    r"amplitude/(\d{4}-\d{2}-\d{2})/434735_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json\.gz"
)
MERGE_FILE = re.compile(r"amplitude/merge_ids/434735_(\d{4}-\d{2}-\d{2})_(\d{1,2})\.json\.gz")
AMPLITUDE_TS = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d{6}$")
PG_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# ------------------------------------------------------------------ fixtures and readers


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen_a")
    return out, generate(out, users=USERS, days=DAYS, seed=3)


@pytest.fixture(scope="module")
def lines(run) -> dict[str, list[str]]:
    """Every event file's lines (relative path -> lines without '\\n')."""
    out, _ = run
    result = {}
    for path in sorted((out / "amplitude").rglob("*.json.gz")):
        rel = path.relative_to(out).as_posix()
        if "/merge_ids/" not in rel:
            result[rel] = _gz_lines(path)
    return result


@pytest.fixture(scope="module")
def records(run, lines) -> list[dict]:
    """Parsed event records, planted bad lines excluded."""
    bad = _bad_positions(run[1], "amplitude")
    return [
        json.loads(text)
        for name, rows in lines.items()
        for no, text in enumerate(rows, start=1)
        if (name, no) not in bad
    ]


@pytest.fixture(scope="module")
def dify(run) -> dict[str, list[dict]]:
    out, _ = run
    return {t: _read_pg_csv(out / "dify" / f"{t}.csv")[1] for t in DIFY_COLUMNS}


def _gz_lines(path: Path) -> list[str]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    assert text.endswith("\n")
    return [line for line in text.split("\n")[:-1] if line]


def _json_or_none(line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _bad_positions(truth: dict, source: str) -> set[tuple[str, int]]:
    return {(b["file"], b["line"]) for b in truth["bad_rows"] if b["source"] == source}


def _read_pg_csv(path: Path) -> tuple[list[str], list[dict]]:
    """Parse PostgreSQL COPY CSV keeping NULL (empty unquoted) apart from '' (quoted)."""
    text = path.read_text(encoding="utf-8")
    rows = _split_pg_csv(text)
    header = [v for v, _ in rows[0]]
    return header, [
        {
            h: (None if (v == "" and not quoted) else v)
            for h, (v, quoted) in zip(header, r, strict=False)
        }
        for r in rows[1:]
    ]


def _split_pg_csv(text: str) -> list[list[tuple[str, bool]]]:
    """Tokenise CSV into (value, was_quoted); also asserts quoting is only used when needed."""
    rows, row, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.index('"', j)
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            value = "".join(buf)
            assert value == "" or any(c in value for c in ',"\n\r'), f"needless quotes: {value}"
            row.append((value, True))
        else:
            j = i
            while j < n and text[j] not in ",\n":
                j += 1
            row.append((text[i:j], False))
            i = j
        if i < n and text[i] == ",":
            i += 1
            continue
        rows.append(row)
        row = []
        i += 1  # the newline
    return rows


def _all_files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------ determinism and layout


def test_same_seed_same_bytes_other_seed_differs(run, tmp_path):
    out, _ = run
    again = tmp_path / "again"
    generate(again, users=USERS, days=DAYS, seed=3)
    first, second = _all_files(out), _all_files(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []

    other = tmp_path / "other"
    generate(other, users=USERS, days=DAYS, seed=4)
    third = _all_files(other)
    assert third["dify/messages.csv"] != first["dify/messages.csv"]
    assert third["ground_truth.json"] != first["ground_truth.json"]


def test_layout_and_file_names(run, lines):
    out, truth = run
    assert sorted(p.name for p in (out / "dify").iterdir()) == sorted(
        f"{t}.csv" for t in DIFY_COLUMNS
    )
    assert (out / "ground_truth.json").is_file()
    for name in ("identity.csv", "persons.csv", "shared_device_events.csv"):
        assert (out / "ground_truth" / name).is_file()
    parts = Counter()
    for name in lines:
        m = EVENT_FILE.fullmatch(name)
        assert m, name
        folder, date, hour, part = m.groups()
        assert folder == date and 0 <= int(hour) <= 23 and str(int(hour)) == hour
        parts[part] += 1
    assert set(parts) == {"0", "1"}  # re-delivered files exist
    merges = sorted((out / "amplitude" / "merge_ids").iterdir())
    assert merges and all(MERGE_FILE.fullmatch(p.relative_to(out).as_posix()) for p in merges)
    assert truth["counts"]["amplitude_files"] == len(lines)


def test_gzip_headers_have_no_name_and_zero_mtime(run):
    out, _ = run
    for path in (out / "amplitude").rglob("*.json.gz"):
        head = path.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08"
        assert head[3] & 0x08 == 0, "FNAME flag set"
        assert head[4:8] == b"\x00\x00\x00\x00", "mtime not 0"


def test_rerun_wipes_only_own_outputs(tmp_path):
    out = tmp_path / "raw"
    generate(out, users=USERS, days=4, seed=1)
    stale = out / "amplitude" / "2099-01-01" / "434735_2099-01-01_0#0.json.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    keep = out / "notes.txt"
    keep.write_text("mine")
    generate(out, users=USERS, days=3, seed=2)
    assert not stale.exists()
    assert keep.read_text() == "mine"
    assert max(p.name for p in (out / "amplitude").iterdir() if p.name != "merge_ids") < "2099"


# ------------------------------------------------------------------ Amplitude lines


def test_every_valid_line_has_exactly_the_contract_keys(records):
    assert records
    for rec in records:
        assert list(rec) == AMPLITUDE_KEYS
        assert rec["app"] == 434735
        assert isinstance(rec["amplitude_id"], int) and isinstance(rec["session_id"], int)
        assert isinstance(rec["event_id"], int)
        for key in ("event_properties", "user_properties", "data", "groups", "group_properties"):
            assert isinstance(rec[key], dict), key
        assert rec["plan"] == {}
        assert UUID.match(rec["uuid"])


def test_timestamps_format_and_one_t_separated_file(run, lines):
    _, truth = run
    bad = _bad_positions(truth, "amplitude")
    t_files = set()
    for name, rows in lines.items():
        for no, text in enumerate(rows, start=1):
            if (name, no) in bad:
                continue
            rec = json.loads(text)
            for key in TIME_KEYS:
                assert AMPLITUDE_TS.match(rec[key]), (key, rec[key])
                if "T" in rec[key]:
                    t_files.add(name)
    assert t_files == {truth["delivery"]["t_separator_file"]}


def test_file_hour_is_the_server_upload_hour(run, lines):
    _, truth = run
    bad = _bad_positions(truth, "amplitude")
    for name, rows in lines.items():
        _, date, hour, _ = EVENT_FILE.fullmatch(name).groups()
        for no, text in enumerate(rows, start=1):
            if (name, no) not in bad:
                upload = json.loads(text)["server_upload_time"].replace("T", " ")
                assert upload[:10] == date and int(upload[11:13]) == int(hour)


def test_sessions_and_server_side_events(records):
    server = [r for r in records if r["library"] == "http/2.0"]
    assert server and all(r["session_id"] == -1 for r in server)
    assert {r["event_type"] for r in server} == {"Answer Rated"}
    client = [r for r in records if r["library"] != "http/2.0"]
    assert all(r["session_id"] > 1_700_000_000_000 for r in client)
    starts = [r for r in client if r["event_type"] == "[Amplitude] Start Session"]
    assert starts
    for r in starts:
        assert r["client_event_time"].replace("T", " ")[:23] == _ms_to_ts(r["session_id"])
    names = {r["event_type"] for r in records}
    for expected in ("page_view", "Page Viewed", "banner_impression", "sign_up", "$identify",
                     "query_submitted", "$exposure"):  # fmt: skip
        assert expected in names


def _ms_to_ts(ms: int) -> str:
    import datetime as dt

    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)).strftime(
        "%Y-%m-%d %H:%M:%S.%f"
    )[:23]


def test_counts_match_the_files(run, lines, records):
    out, truth = run
    counts = truth["counts"]
    assert counts["amplitude_lines"] == sum(len(rows) for rows in lines.values())
    by_uuid = {}
    for rec in records:
        by_uuid.setdefault(rec["uuid"], rec)
    assert counts["amplitude_uuid_duplicates"] == len(records) - len(by_uuid)
    seen, unique = set(), []
    for rec in sorted(by_uuid.values(), key=lambda r: (r["server_upload_time"], r["uuid"])):
        key = (rec["device_id"], rec["$insert_id"])
        if rec["$insert_id"] is not None and key in seen:
            continue
        seen.add(key)
        unique.append(rec)
    assert counts["amplitude_insert_id_duplicates"] == len(by_uuid) - len(unique)
    assert counts["amplitude_unique_events"] == len(unique)
    identify = sum(r["event_type"] in ("$identify", "$groupidentify") for r in unique)
    assert counts["amplitude_identify_events"] == identify
    assert counts["amplitude_uuid_duplicates"] > 0

    merge_lines = [
        line for p in sorted((out / "amplitude" / "merge_ids").iterdir()) for line in _gz_lines(p)
    ]
    assert counts["merge_id_lines"] == len(merge_lines)
    parsed = [m for m in map(_json_or_none, merge_lines) if m is not None]
    assert counts["merge_id_bad_rows"] == len(merge_lines) - len(parsed)
    assert all(list(m) == MERGE_KEYS and m["scope"] == 434735 for m in parsed)

    rows = {t: len(_read_pg_csv(out / "dify" / f"{t}.csv")[1]) for t in DIFY_COLUMNS}
    assert counts["dify_rows"] == rows
    assert counts["dify_rows_total"] == sum(rows.values())


def test_identities_and_merges(run, records):
    out, truth = run
    identity = list(csv.DictReader(io.StringIO((out / "ground_truth/identity.csv").read_text())))
    assert list(identity[0]) == ["identifier_type", "identifier", "true_person_id"]
    known = {(r["identifier_type"], r["identifier"]) for r in identity}
    for rec in records:
        assert ("device_id", rec["device_id"]) in known
        assert ("amplitude_id", str(rec["amplitude_id"])) in known
        if rec["user_id"] is not None:
            assert ("user_id", rec["user_id"]) in known
    # every merge maps a device's anonymous id onto an id that logged-in events carry
    anonymous_ids = {r["amplitude_id"] for r in records if r["user_id"] is None}
    user_ids = {r["amplitude_id"] for r in records if r["user_id"] is not None}
    merge_lines = [
        line for p in sorted((out / "amplitude" / "merge_ids").iterdir()) for line in _gz_lines(p)
    ]
    merges = [m for m in map(_json_or_none, merge_lines) if m is not None]
    assert merges
    assert all(m["amplitude_id"] in anonymous_ids for m in merges)
    assert all(m["merged_amplitude_id"] in user_ids for m in merges)
    users = {r["user_id"] for r in records if r["user_id"]}
    assert any(r["user_id"] is None for r in records)
    assert truth["identified_persons"] >= len(users) > 0
    shared = list(
        csv.DictReader(io.StringIO((out / "ground_truth/shared_device_events.csv").read_text()))
    )
    assert truth["identity"]["shared_devices"] > 0 and shared
    persons_per_device = Counter((r["device_id"], r["true_person_id"]) for r in shared)
    assert len({d for d, _ in persons_per_device}) <= truth["identity"]["shared_devices"]


# ------------------------------------------------------------------ bad rows


def test_planted_bad_amplitude_and_merge_lines(run, lines):
    out, truth = run
    amp_bad = [b for b in truth["bad_rows"] if b["source"] == "amplitude"]
    assert Counter(b["reason"] for b in amp_bad) == truth["counts"]["amplitude_bad_rows"]
    assert set(truth["counts"]["amplitude_bad_rows"]) == {
        "invalid_json", "missing_event_type", "missing_event_time", "missing_identity",
    }  # fmt: skip
    for b in amp_bad:
        text = lines[b["file"]][b["line"] - 1]
        if b["reason"] == "invalid_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(text)
            continue
        rec = json.loads(text)
        if b["reason"] == "missing_event_type":
            assert "event_type" not in rec
        elif b["reason"] == "missing_event_time":
            assert rec["event_time"] is None
        else:
            assert rec["user_id"] is None and rec["device_id"] is None
    (merge_bad,) = [b for b in truth["bad_rows"] if b["source"] == "merge_ids"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(_gz_lines(out / merge_bad["file"])[merge_bad["line"] - 1])


def test_planted_bad_dify_rows(run, dify):
    _, truth = run
    bad = truth["counts"]["dify_bad_rows"]
    messages, conversations = dify["messages"], dify["conversations"]
    conv_ids = {c["id"] for c in conversations}
    msg_ids = {m["id"] for m in messages}
    statuses = Counter(m["status"] for m in messages)
    assert set(statuses) == {"normal", "error", "archived"}
    assert statuses["archived"] == bad["messages"]["unknown_enum"]
    orphans = [m for m in messages if m["conversation_id"] not in conv_ids]
    assert len(orphans) == bad["messages"]["broken_reference"]
    fb_orphans = [f for f in dify["message_feedbacks"] if f["message_id"] not in msg_ids]
    assert len(fb_orphans) == bad["message_feedbacks"]["broken_reference"]
    types = Counter(e["type"] for e in dify["end_users"])
    unknown = sum(n for t, n in types.items() if t not in ("service-api", "service_api"))
    assert unknown == bad["end_users"]["unknown_enum"]
    dify_listed = [b for b in truth["bad_rows"] if b["source"] == "dify"]
    assert len(dify_listed) == sum(n for reasons in bad.values() for n in reasons.values())


def test_without_bad_rows_everything_parses(tmp_path):
    truth = generate(tmp_path, users=USERS, days=4, seed=5, bad_rows=False)
    assert truth["counts"]["amplitude_bad_rows"] == {}
    assert truth["counts"]["dify_bad_rows"] == {}
    assert truth["bad_rows"] == []
    for path in (tmp_path / "amplitude").rglob("*.json.gz"):
        for line in _gz_lines(path):
            json.loads(line)


# ------------------------------------------------------------------ Dify CSVs


def test_csv_headers_follow_the_contract(run):
    out, _ = run
    for table, columns in DIFY_COLUMNS.items():
        header, rows = _read_pg_csv(out / "dify" / f"{table}.csv")
        assert header == columns, table
        assert all(len(r) == len(columns) for r in rows)


def test_csv_values_use_postgres_text_forms(dify):
    bools = {
        "apps": ["enable_site", "enable_api", "is_demo", "is_public", "is_universal"],
        "end_users": ["is_anonymous"],
        "conversations": ["is_deleted"],
        "messages": ["agent_based"],
    }
    for table, cols in bools.items():
        for row in dify[table]:
            assert all(row[c] in ("t", "f") for c in cols), (table, row)
    for table, rows in dify.items():
        for row in rows:
            for col in ("created_at", "updated_at", "finished_at"):
                if row.get(col) is not None:
                    assert PG_TS.match(row[col]), (table, col, row[col])
    for row in dify["messages"]:
        assert re.fullmatch(r"\d+\.\d{4}", row["message_unit_price"])
        assert re.fullmatch(r"\d+\.\d{7}", row["total_price"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row["created_at"])
        if row["message_metadata"] is not None:
            usage = json.loads(row["message_metadata"])["usage"]
            assert isinstance(usage["total_price"], str)  # decimals as strings
        if row["status"] == "error":
            assert row["answer"] == "" and row["answer_tokens"] == "0"


def test_dify_semantics_and_cross_references(run, dify, records):
    _, truth = run
    msg_ids = {m["id"] for m in dify["messages"]}
    run_ids = {r["id"] for r in dify["workflow_runs"]}
    for rec in records:
        props = rec["event_properties"]
        if rec["event_type"] == "query_submitted":
            assert props["dify_message_id"] in msg_ids
        if rec["event_type"] in ("result_exported", "export_result"):
            assert props["dify_workflow_run_id"] in run_ids
    debugger = [m for m in dify["messages"] if m["invoke_from"] == "debugger"]
    assert len(debugger) == truth["counts"]["debugger_messages"] > 0
    assert all(
        m["from_source"] == "console" and m["from_end_user_id"] is None and m["from_account_id"]
        for m in debugger
    )
    runs = dify["workflow_runs"]
    statuses = Counter(r["status"] for r in runs)
    assert {"succeeded", "failed", "running"} <= set(statuses)
    assert all(r["finished_at"] is None for r in runs if r["status"] == "running")
    assert any(
        r["triggered_from"] == "debugging" and r["created_by_role"] == "account" for r in runs
    )
    logged = {log["workflow_run_id"] for log in dify["workflow_app_logs"]}
    assert logged == {r["id"] for r in runs if r["triggered_from"] == "app-run"}
    for eu in dify["end_users"]:
        if eu["type"] in ("service-api", "service_api"):
            assert eu["session_id"] == eu["external_user_id"] and eu["is_anonymous"] == "f"
    configs = {c["id"] for c in dify["app_model_configs"]}
    assert set(truth["prompt_versions"]) == configs
    # ids written by SQL (conversations) and by Python (configs) agree
    assert {c["app_model_config_id"] for c in dify["conversations"]} == configs
    assert all(UUID.match(m["id"]) for m in dify["messages"])


# ------------------------------------------------------------------ ground truth


def test_ground_truth_shape(run):
    _, truth = run
    for key in ("seed", "users", "days", "start_date", "end_date", "true_persons",
                "identified_persons", "anonymous_persons", "counts", "retention", "funnel",
                "experiments", "prompt_versions"):  # fmt: skip
        assert key in truth, key
    assert truth["true_persons"] == truth["identified_persons"] + truth["anonymous_persons"]
    assert truth["end_date"] == "2026-07-10"
    assert set(truth["retention"]["realized"]) == {"d1", "d7", "d30"}
    reaching = truth["funnel"]["realized"]["persons_reaching"]
    assert reaching[0] == truth["true_persons"]
    assert reaching == sorted(reaching, reverse=True)
    for flag in ("onboarding_copy_v2", "aa_check"):
        realized = truth["experiments"][flag]["realized"]
        assert set(realized) == {"control", "treatment"}
    lift = truth["experiments"]["onboarding_copy_v2"]["planted_relative_lift"]
    assert lift == pytest.approx(0.2)
    rates = sorted(v["planted_dislike_rate"] for v in truth["prompt_versions"].values())
    assert rates == [0.1, 0.3]


def test_exposures_match_ground_truth(run, records):
    _, truth = run
    exposed = {}
    for rec in records:
        if rec["event_type"] == "$exposure":
            flag, variant = rec["event_properties"]["flag_key"], rec["event_properties"]["variant"]
            exposed.setdefault(flag, {}).setdefault(rec["user_id"], set()).add(variant)
    for flag, users in exposed.items():
        assert all(len(v) == 1 for v in users.values())  # one variant per user
        realized = truth["experiments"][flag]["realized"]
        for variant in ("control", "treatment"):
            n = sum(variant in v for v in users.values())
            assert realized[variant]["exposed_persons"] == n
