"""Writing the deliveries: DuckDB formats every value, Python gzips and writes files.

Ids are uuid-shaped md5 hashes of (seed, kind, index), so the same index gives the same id in
Amplitude `event_properties` and in the Dify CSVs, and reruns are byte-identical. Gzip headers
carry mtime 0 and no file name.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mmap
import os
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from llm_product_analytics.generate_amplitude import PROJECT_ID, Amplitude
from llm_product_analytics.generate_amplitude_sql import dimension_sql, line_sql
from llm_product_analytics.generate_world import World

GZIP_LEVEL = 3  # levels 1-3 cost the same here (measured); 3 is ~8 % smaller
BAD_AMPLITUDE_REASONS = (
    "invalid_json",
    "missing_event_type",
    "missing_event_time",
    "missing_identity",
)
N_BAD_PER_CLASS = 2


# version nibble 4 and RFC 4122 variant bits, set on the 128-bit md5 number
_UUID_CLEAR = ((1 << 128) - 1) ^ (0xF << 76) ^ (0x3 << 62)
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def uid(seed: int, kind: str, i: int) -> str:
    """Python twin of the SQL macro `uid` (DuckDB's md5_number reads the digest little-endian)."""
    digest = hashlib.md5(f"{seed}:{kind}:{i}".encode()).digest()
    return str(uuid.UUID(int=(int.from_bytes(digest, "little") & _UUID_CLEAR) | _UUID_SET))


def pg_timestamp(us: int) -> str:
    """PostgreSQL text output of a timestamp: fraction only when non-zero, zeros trimmed."""
    text = pd.Timestamp(int(us), unit="us").strftime("%Y-%m-%d %H:%M:%S.%f")
    return text.rstrip("0").rstrip(".")


def connect(seed: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    # one DuckDB thread: an ordered COPY burns 2-3x the CPU when parallel (measured), and
    # the Amplitude writer overlaps gzip with the next COPY in Python threads instead
    con.execute("SET threads = 1")
    macros = {
        # uuid v4 from md5(seed:kind:i); one md5 per id even inside CASE branches
        "uid(kind, i)": "CAST(CAST((md5_number(concat('" + str(int(seed)) + "', ':', kind, "
        f"':', i)) & CAST('{_UUID_CLEAR}' AS UHUGEINT)) | CAST('{_UUID_SET}' AS UHUGEINT) "
        "AS UUID) AS VARCHAR)",
        "pgts(x)": "CAST(make_timestamp(x) AS VARCHAR)",
        "pgbool(b)": "CASE WHEN b THEN 't' ELSE 'f' END",
        # float8 output: shortest round-trip text, integral values without `.0`
        "pgfloat(x)": "CASE WHEN x = trunc(x) THEN CAST(CAST(x AS BIGINT) AS VARCHAR) "
        "ELSE CAST(CAST(x AS DOUBLE) AS VARCHAR) END",
        # numeric(10,7) from an integer count of 1e-7 units
        "price7(v)": "printf('%d.%07d', v // 10000000, v % 10000000)",
        # Amplitude timestamp text; t = the one file written with the `T` separator
        "ats(x, t)": "CASE WHEN t THEN strftime(make_timestamp(x), '%Y-%m-%dT%H:%M:%S.%f') "
        "ELSE strftime(make_timestamp(x), '%Y-%m-%d %H:%M:%S.%f') END",
    }
    for head, body in macros.items():
        con.execute(f"CREATE MACRO {head} AS {body}")
    return con


def gzip_bytes(data: bytes | memoryview | str) -> bytes:
    """Gzip with mtime 0 and no file name in the header, so reruns are byte-identical."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


# ---------------------------------------------------------------- Amplitude event lines


def load_amplitude_tables(con, world: World, amp: Amplitude) -> None:
    """Lines plus device and person dimensions as DuckDB tables (shared by writer threads)."""
    cols = [
        "file_id", "line_no", "key", "orig", "person", "device", "platform", "kind",
        "session_id", "user_num", "amp", "msg", "conv", "run", "exp", "variant", "page",
        "banner", "product", "fb", "fb_seq", "rating", "insert_mode", "cet", "cut", "srt",
        "sut", "pt", "et", "uct", "event_id", "first_event", "tsep",
    ]  # fmt: skip
    lines = amp.lines[cols]
    day_of_file = amp.files["day_key"].to_numpy()
    n_dev = len(world.devices)
    server = lines["platform"].to_numpy() == 3
    person = lines["person"].to_numpy().astype(np.int64)
    lines_df = lines.assign(
        day_key=day_of_file[lines["file_id"].to_numpy()],
        # server-side events join a pseudo device and a geo-less person row, so the line
        # SQL needs no per-row CASE for them
        dev_key=np.where(server, n_dev + person, lines["device"].to_numpy()),
        per_key=person * 2 + server,
    )
    con.register("lines_df", lines_df)
    # sorted by file so that each day's query reads a contiguous range of row groups
    con.execute("SET threads = 2")
    con.execute("CREATE TABLE a_lines AS SELECT * FROM lines_df ORDER BY file_id, line_no")
    con.execute("SET threads = 1")
    con.unregister("lines_df")
    con.register("dev_df", world.devices[["device", "platform", "model"]])
    con.register("per_df", world.persons[["person", "user_num", "geo", "pro", "company"]])
    con.execute(dimension_sql(n_dev))
    con.unregister("dev_df")
    con.unregister("per_df")


def write_amplitude(
    con, out_dir: Path, amp: Amplitude, bad: dict[int, list[dict]], seed: int
) -> None:
    """Per upload day, DuckDB writes the day's lines (in file order) to a scratch text file;
    Python cuts it into the hourly files by line counts and gzips them. No per-line Python
    objects. Two days are in flight: while one is gzipped the next one is formatted (one
    COPY at a time: concurrent COPYs slow each other down)."""
    app_id = uid(seed, "app", 0)
    files = amp.files
    days = np.unique(files["day_key"].to_numpy())
    copy_lock = threading.Lock()

    def one_day(day: int, scratch: Path) -> None:
        tmp = scratch / f"{day}.txt"
        sql = line_sql(app_id, where=f"l.day_key = {int(day)}", line_only=True)
        with copy_lock:
            cur = con.cursor()
            cur.execute(
                f"COPY ({sql}) TO '{tmp}' "
                "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01')"
            )
            cur.close()
        # mmap the scratch file: no copy of the day's text into Python memory
        with open(tmp, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                _split_and_gzip(view, files[files["day_key"] == day], out_dir, bad)
            finally:
                view.release()
        tmp.unlink()

    with _scratch_dir() as scratch:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda d: one_day(d, Path(scratch)), days))


def _split_and_gzip(data: memoryview, day_files: pd.DataFrame, out_dir: Path, bad) -> None:
    """Cut one day's text into its hourly files (consecutive line counts) and gzip them."""
    ends = _line_ends(data)
    day_files = day_files.sort_values("file_id")
    stop = np.cumsum(day_files["n_lines"].to_numpy())
    start = np.concatenate([[0], stop[:-1]])
    for fid, name, first, last in zip(
        day_files["file_id"], day_files["name"], start, stop, strict=True
    ):
        chunk = data[int(ends[first - 1]) if first else 0 : int(ends[last - 1])]
        extra = "".join(b["text"] + "\n" for b in bad.get(int(fid), []))
        body = bytes(chunk) + extra.encode() if extra else chunk
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip_bytes(body))
        chunk.release()


def _line_ends(data: memoryview) -> np.ndarray:
    """Offset after every newline, scanned in 16 MB chunks with one reused mask (a mask of
    the whole day would cost a page fault per 4 KB)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 24
    mask = np.empty(min(step, len(arr)), dtype=bool)
    parts = [np.empty(0, dtype=np.int64)]
    for lo in range(0, len(arr), step):
        chunk = arr[lo : lo + step]
        np.equal(chunk, 10, out=mask[: len(chunk)])
        parts.append(np.flatnonzero(mask[: len(chunk)]) + lo + 1)
    del arr
    return np.concatenate(parts)


def _scratch_dir() -> tempfile.TemporaryDirectory:
    """Scratch space for the uncompressed day files: RAM-backed /dev/shm when available."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix="lpa-generate-", dir=where)


def plan_bad_amplitude(amp: Amplitude, seed: int, template: dict) -> dict[int, list[dict]]:
    """Bad lines appended to a few `#0` files (never the `T` file), documented by position."""
    files = amp.files
    cand = files[(files["part"] == 0) & (files["file_id"] != amp.t_file)]["file_id"].to_numpy()
    n = len(BAD_AMPLITUDE_REASONS) * N_BAD_PER_CLASS
    picks = cand[np.linspace(0, len(cand) - 1, n + 2).astype(int)[1:-1]]
    out: dict[int, list[dict]] = {}
    for k, fid in enumerate(picks):
        reason = BAD_AMPLITUDE_REASONS[k % len(BAD_AMPLITUDE_REASONS)]
        rec = dict(template, uuid=uid(seed, "bad-evt", k), **{"$insert_id": uid(seed, "bad", k)})
        if reason == "missing_event_type":
            del rec["event_type"]
        elif reason == "missing_event_time":
            rec["event_time"] = None
        elif reason == "missing_identity":
            rec["user_id"] = None
            rec["device_id"] = None
        text = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
        if reason == "invalid_json":
            text = text[: len(text) // 2]  # a truncated write
        entries = out.setdefault(int(fid), [])
        line_no = int(files.loc[fid, "n_lines"]) + len(entries) + 1
        entries.append(
            {
                "source": "amplitude",
                "file": files.loc[fid, "name"],
                "line": line_no,
                "reason": reason,
                "uuid": rec["uuid"],
                "text": text,
            }
        )
    return out


def template_record(con, seed: int) -> dict:
    """A real event line (the first one written) used as the body of the bad lines."""
    sql = line_sql(uid(seed, "app", 0), where="l.file_id = 0 AND l.line_no = 1")
    return json.loads(con.execute(sql).fetchall()[0][1])


# ---------------------------------------------------------------- merged ids


def write_merges(con, out_dir: Path, merges: pd.DataFrame, bad_rows: bool) -> list[dict]:
    con.register("merges_df", merges)
    res = con.execute(
        f"""SELECT name, to_json(struct_pack(scope := {PROJECT_ID}, merge_time := merge_time,
            merge_server_time := merge_server_time, amplitude_id := amplitude_id,
            merged_amplitude_id := merged_amplitude_id)) AS line
        FROM merges_df ORDER BY merge_server_time, amplitude_id"""
    ).fetchnumpy()
    con.unregister("merges_df")
    by_file: dict[str, list[str]] = {}
    for name, line in zip(res["name"], res["line"], strict=True):
        by_file.setdefault(name, []).append(line)
    bad = []
    if bad_rows and by_file:
        name = sorted(by_file)[len(by_file) // 2]
        text = by_file[name][0][: len(by_file[name][0]) // 2]
        by_file[name].append(text)
        bad.append(
            {"source": "merge_ids", "file": name, "line": len(by_file[name]),
             "reason": "invalid_json", "text": text}
        )  # fmt: skip
    for name, rows in by_file.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip_bytes("\n".join(rows) + "\n"))
    return bad


# ---------------------------------------------------------------- CSV (PostgreSQL COPY dialect)


def copy_csv(con, path: Path, columns: dict[str, str], src: str, order: str) -> None:
    select = ",\n".join(f"{expr} AS {name}" for name, expr in columns.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT {select} FROM {src} ORDER BY {order}) TO '{path}' "
        "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', NULLSTR '')"
    )
