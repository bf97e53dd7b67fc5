"""Land the raw deliveries in PostgreSQL unchanged (docs/input-contract.md).

`lpa load` copies every file of `raw_data_path` into one raw table per source table:

- `amplitude/**/*.json.gz` (except `amplitude/merge_ids/`) -> `raw_amplitude.events`
- `amplitude/merge_ids/*.json.gz`                         -> `raw_amplitude.merge_ids`
- `dify/<table>.csv`                                      -> `raw_dify.<table>`

Each file is loaded in its own transaction with COPY, streamed (files never sit in memory),
then reconciled: the row count and an order-independent checksum computed in Python while
reading the file must equal the same figures computed in SQL over the landed rows, or the
transaction is rolled back. `raw_meta.load_manifest` records every loaded file with its
sha256, so a rerun skips unchanged files and refuses changed ones unless `replace=True`.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import psycopg2
from psycopg2 import sql

from llm_product_analytics.contract import (
    DIFY_COLUMNS,
    OPTIONAL_DIFY_TABLES,
    REQUIRED_DIFY_TABLES,
)

log = logging.getLogger(__name__)

EVENTS_TABLE = ("raw_amplitude", "events")
MERGE_IDS_TABLE = ("raw_amplitude", "merge_ids")
AMPLITUDE_COLUMNS = ("_file_name", "_line", "_loaded_at")
MANIFEST_TABLE = ("raw_meta", "load_manifest")
_KNOWN_TABLES = {
    f"{schema}.{table}": (schema, table)
    for schema, table in [EVENTS_TABLE, MERGE_IDS_TABLE] + [("raw_dify", t) for t in DIFY_COLUMNS]
}

# Serialises concurrent loaders (manifest check + load must be atomic). Arbitrary constant.
_ADVISORY_LOCK_KEY = 7_310_452_118

_CHUNK = 1 << 20  # read/COPY buffer size

# Test seam: called inside the file's transaction after COPY and before reconciliation, with
# (cursor, relative file name, "schema.table"). Only tests set it, to prove that a mismatch
# rolls the file back.
TamperHook = Callable[[Any, str, str], None]


class LoadError(Exception):
    """A file cannot be landed as it is; nothing of that file was committed."""


@dataclass(frozen=True)
class FileResult:
    name: str  # path relative to raw_dir, forward slashes
    table: str  # "schema.table"
    rows: int
    status: str  # loaded | skipped | replaced


@dataclass
class LoadReport:
    files: list[FileResult] = field(default_factory=list)
    created_empty: list[str] = field(default_factory=list)  # optional tables without a file
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def rows_per_table(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for f in self.files:
            totals[f.table] = totals.get(f.table, 0) + f.rows
        return dict(sorted(totals.items()))

    def summary_lines(self) -> list[str]:
        lines = [
            f"files: {self.count('loaded')} loaded, {self.count('skipped')} skipped "
            f"(unchanged), {self.count('replaced')} replaced"
        ]
        for table, rows in self.rows_per_table().items():
            files = [f for f in self.files if f.table == table]
            new = sum(f.rows for f in files if f.status != "skipped")
            plural = "file" if len(files) == 1 else "files"
            lines.append(f"  {table}: {rows} rows in {len(files)} {plural} ({new} landed now)")
        for table in self.created_empty:
            lines.append(f"  {table}: optional, no file (table created empty if it was absent)")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return lines


@dataclass(frozen=True)
class _RawFile:
    path: Path
    name: str  # relative, forward slashes
    schema: str
    table: str
    dify_table: str | None  # None for Amplitude files

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


# ------------------------------------------------------------------------------------------
# Discovery and validation (before touching the database)
# ------------------------------------------------------------------------------------------


def _discover(raw_dir: Path) -> tuple[list[_RawFile], list[str], list[str]]:
    """All files to load (sorted by relative path), missing optional tables, warnings."""
    if not raw_dir.is_dir():
        raise LoadError(f"raw directory {raw_dir} does not exist")
    files: list[_RawFile] = []
    warnings: list[str] = []

    amplitude = raw_dir / "amplitude"
    if amplitude.is_dir():
        ignored = []
        for path in sorted(amplitude.rglob("*")):
            if not path.is_file():
                continue
            if not path.name.endswith(".json.gz"):
                ignored.append(path.relative_to(raw_dir).as_posix())
                continue
            rel = path.relative_to(raw_dir).as_posix()
            under_merge = path.relative_to(amplitude).parts[0] == "merge_ids"
            schema, table = MERGE_IDS_TABLE if under_merge else EVENTS_TABLE
            files.append(_RawFile(path, rel, schema, table, None))
        if ignored:
            warnings.append(
                f"ignored {len(ignored)} file(s) under amplitude/ not named *.json.gz: "
                + ", ".join(ignored[:5])
                + (" ..." if len(ignored) > 5 else "")
            )
    if not any(f.table == EVENTS_TABLE[1] for f in files):
        warnings.append(f"no Amplitude event files (*.json.gz) under {amplitude}")

    dify = raw_dir / "dify"
    present: set[str] = set()
    unknown: list[str] = []
    if dify.is_dir():
        for path in dify.glob("*.csv"):
            table = path.name[: -len(".csv")]
            if table not in DIFY_COLUMNS:
                unknown.append(path.name)
                continue
            present.add(table)
            files.append(_RawFile(path, f"dify/{path.name}", "raw_dify", table, table))
    if unknown:
        raise LoadError(
            f"unknown Dify table file(s) in {dify}: {', '.join(sorted(unknown))}; "
            f"expected only {', '.join(f'{t}.csv' for t in sorted(DIFY_COLUMNS))}"
        )
    missing = sorted(REQUIRED_DIFY_TABLES - present)
    if missing:
        raise LoadError(
            f"required Dify table file(s) missing in {dify}: "
            + ", ".join(f"{t}.csv" for t in missing)
        )
    missing_optional = sorted(OPTIONAL_DIFY_TABLES - present)
    files.sort(key=lambda f: f.name)
    return files, missing_optional, warnings


@contextmanager
def csv_field_limit() -> Iterator[None]:
    # JSON columns (workflow graphs, message metadata) exceed csv's 128 KiB default.
    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _read_header(f: _RawFile) -> None:
    """Check the CSV header equals the contract column list exactly."""
    expected = list(DIFY_COLUMNS[f.dify_table or ""])
    try:
        with open(f.path, encoding="utf-8", newline="") as handle, csv_field_limit():
            header = next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LoadError(f"{f.name}: cannot read the CSV header: {exc}") from exc
    if header != expected:
        extra = [c for c in header if c not in expected]
        absent = [c for c in expected if c not in header]
        detail = []
        if absent:
            detail.append(f"missing columns {absent}")
        if extra:
            detail.append(f"unexpected columns {extra}")
        if not detail:
            detail.append("same columns in a different order")
        raise LoadError(
            f"{f.name}: header does not match the contract column list for "
            f"{f.dify_table} ({'; '.join(detail)}); header {header}, expected {expected}"
        )


# ------------------------------------------------------------------------------------------
# Streaming readers: hash the bytes, compute row count + checksum, feed COPY
# ------------------------------------------------------------------------------------------


def _sha256_and_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _row_hash(data: bytes) -> int:
    """`int(md5(row_text)[:15], 16)`: the first 60 bits of the md5 digest."""
    return int.from_bytes(hashlib.md5(data).digest()[:8], "big") >> 4


class _HashingReader:
    """Binary file wrapper that sha256-hashes every byte read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        return data

    def readable(self) -> bool:
        return True


class _AmplitudeCopySource:
    """File-like COPY source: gzipped JSON lines -> CSV rows (_file_name, _line, _loaded_at).

    Every line (without its `\\n`; empty lines skipped) becomes one quoted CSV field, so any
    byte sequence survives; the rows are counted and checksummed on the way through.
    """

    def __init__(self, path: Path, file_name: str, loaded_at: dt.datetime) -> None:
        self._raw = open(path, "rb")  # closed in close()
        self.hashing = _HashingReader(self._raw)
        self._gz = gzip.GzipFile(fileobj=self.hashing, mode="rb")
        quoted_name = file_name.replace('"', '""').encode("utf-8")
        self._prefix = b'"' + quoted_name + b'","'
        self._suffix = b'",' + loaded_at.isoformat(sep=" ").encode() + b"\n"
        self._pending: list[bytes] = []  # the incomplete last line, carried to the next chunk
        self._eof = False
        self.rows = 0
        self.checksum = 0
        self.error: Exception | None = None  # psycopg2 reports read() errors only as text

    def _convert(self, lines: list[bytes]) -> bytes:
        md5 = hashlib.md5
        from_bytes = int.from_bytes
        prefix, suffix = self._prefix, self._suffix
        parts = []
        total = 0
        for line in lines:
            if not line:
                continue
            total += from_bytes(md5(line).digest()[:8], "big") >> 4
            parts.append(prefix + line.replace(b'"', b'""') + suffix)
        self.rows += len(parts)
        self.checksum += total
        return b"".join(parts)

    def read(self, size: int = -1) -> bytes:
        # COPY accepts chunks of any length, so return whatever one decompressed chunk
        # yields (never b"" before the end: that would end the COPY).
        while not self._eof:
            try:
                chunk = self._gz.read(_CHUNK)
            except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
                self.error = LoadError(f"cannot decompress: {exc}")
                raise self.error from exc
            if not chunk:
                self._eof = True
                return self._convert([b"".join(self._pending)])
            if b"\n" not in chunk:  # inside a long line: collect without re-copying
                self._pending.append(chunk)
                continue
            lines = b"".join([*self._pending, chunk]).split(b"\n")
            self._pending = [lines.pop()]
            out = self._convert(lines)
            if out:
                return out
        return b""

    def drain_sha256(self) -> str:
        """sha256 of the whole compressed file (reads any bytes gzip left unread)."""
        while self.hashing.read(_CHUNK):
            pass
        return self.hashing.sha256.hexdigest()

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


def _dify_rows_and_checksum(f: _RawFile) -> tuple[int, int]:
    """Row count and checksum of a Dify CSV, read as Python's csv module sees it.

    NULL (empty unquoted) and '' (`""`) both read as '', exactly as the contract's checksum
    writes NULL. Ragged rows are refused here: PostgreSQL would refuse them anyway.
    """
    width = len(DIFY_COLUMNS[f.dify_table or ""])
    rows = 0
    checksum = 0
    # newline='': the csv module sees the raw line ends (quoted fields may hold \r and \n).
    with open(f.path, encoding="utf-8", newline="") as handle, csv_field_limit():
        reader = csv.reader(handle)
        try:
            next(reader, None)  # header, checked by _read_header
            for record in reader:
                if len(record) != width:
                    raise LoadError(
                        f"{f.name}: record ending on line {reader.line_num} has "
                        f"{len(record)} fields, expected {width}"
                    )
                rows += 1
                checksum += _row_hash("\x1f".join(record).encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise LoadError(f"{f.name}: not valid UTF-8: {exc}") from exc
        except csv.Error as exc:
            raise LoadError(f"{f.name}: malformed CSV near line {reader.line_num}: {exc}") from exc
    return rows, checksum


# ------------------------------------------------------------------------------------------
# Database side
# ------------------------------------------------------------------------------------------


def _ident(schema: str, table: str) -> sql.Composed:
    return sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(table)])


def _expected_columns(schema: str, table: str) -> list[str]:
    if schema == "raw_dify":
        return [*DIFY_COLUMNS[table], "_file_name", "_loaded_at"]
    return list(AMPLITUDE_COLUMNS)


def _ensure_objects(cur: Any) -> None:
    """Schemas, raw tables (with a `_file_name` index) and the manifest, if absent."""
    for schema in ("raw_amplitude", "raw_dify", "raw_meta"):
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    tables: list[tuple[str, str, list[sql.Composable]]] = []
    amplitude_defs = [sql.SQL("_file_name text, _line text, _loaded_at timestamp")]
    for schema, table in (EVENTS_TABLE, MERGE_IDS_TABLE):
        tables.append((schema, table, amplitude_defs))
    for table, columns in DIFY_COLUMNS.items():
        defs: list[sql.Composable] = [sql.SQL("{} text").format(sql.Identifier(c)) for c in columns]
        defs += [sql.SQL("_file_name text"), sql.SQL("_loaded_at timestamp")]
        tables.append(("raw_dify", table, defs))
    for schema, table, defs in tables:
        cur.execute(
            sql.SQL("create table if not exists {} ({})").format(
                _ident(schema, table), sql.SQL(", ").join(defs)
            )
        )
        cur.execute(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
        actual = [r[0] for r in cur.fetchall()]
        expected = _expected_columns(schema, table)
        if actual != expected:
            raise LoadError(
                f"table {schema}.{table} exists with columns {actual}, expected {expected}; "
                "drop it (or fix it) and load again"
            )
        # Reconciliation and --replace look rows up by file; without an index every file
        # would scan the whole table (quadratic over hundreds of hourly Amplitude files).
        cur.execute(
            sql.SQL("create index if not exists {} on {} (_file_name)").format(
                sql.Identifier(f"{table}__file_name_idx"), _ident(schema, table)
            )
        )
    cur.execute(
        sql.SQL(
            "create table if not exists {} (file_name text primary key, target_table text, "
            "size_bytes bigint, sha256 text, row_count bigint, row_checksum numeric, "
            "loaded_at timestamp)"
        ).format(_ident(*MANIFEST_TABLE))
    )


def _row_text_sql(f: _RawFile) -> sql.Composable:
    if f.dify_table is None:
        return sql.Identifier("_line")
    return sql.SQL("concat_ws(chr(31), {})").format(
        sql.SQL(", ").join(
            sql.SQL("coalesce({}, '')").format(sql.Identifier(c))
            for c in DIFY_COLUMNS[f.dify_table]
        )
    )


def _landed_figures(cur: Any, f: _RawFile) -> tuple[int, int]:
    cur.execute(
        sql.SQL(
            "select count(*), coalesce(sum(('x' || substr(md5({}), 1, 15))::bit(60)::bigint), 0) "
            "from {} where _file_name = %s"
        ).format(_row_text_sql(f), _ident(f.schema, f.table)),
        (f.name,),
    )
    rows, checksum = cur.fetchone()
    return int(rows), int(checksum)


def _copy_amplitude(cur: Any, f: _RawFile, loaded_at: dt.datetime) -> tuple[int, int, str]:
    source = _AmplitudeCopySource(f.path, f.name, loaded_at)
    try:
        cur.copy_expert(
            sql.SQL("copy {} ({}) from stdin with (format csv)")
            .format(
                _ident(f.schema, f.table),
                sql.SQL(", ").join(map(sql.Identifier, AMPLITUDE_COLUMNS)),
            )
            .as_string(cur),
            source,
            size=_CHUNK,
        )
        return source.rows, source.checksum, source.drain_sha256()
    except psycopg2.Error as exc:
        if source.error is not None:
            raise LoadError(f"{f.name}: {source.error}") from exc
        raise
    finally:
        source.close()


def _copy_dify(cur: Any, f: _RawFile, loaded_at: dt.datetime) -> str:
    """COPY the CSV bytes as they are (PostgreSQL's own CSV rules: NULL vs ''), via a temp
    table so `_file_name` / `_loaded_at` can be added; returns the sha256 of what was read."""
    columns = sql.SQL(", ").join(map(sql.Identifier, DIFY_COLUMNS[f.dify_table or ""]))
    cur.execute(
        sql.SQL(
            "create temp table lpa_stage on commit drop as select {} from {} with no data"
        ).format(columns, _ident(f.schema, f.table))
    )
    with open(f.path, "rb") as raw:
        hashing = _HashingReader(raw)
        cur.copy_expert(
            sql.SQL("copy pg_temp.lpa_stage ({}) from stdin with (format csv, header true)")
            .format(columns)
            .as_string(cur),
            hashing,
            size=_CHUNK,
        )
        while hashing.read(_CHUNK):
            pass
    cur.execute(
        sql.SQL(
            "insert into {} ({}, _file_name, _loaded_at) select {}, %s, %s from lpa_stage"
        ).format(_ident(f.schema, f.table), columns, columns),
        (f.name, loaded_at),
    )
    cur.execute("drop table pg_temp.lpa_stage")
    return hashing.sha256.hexdigest()


def _connect(conn_params: dict | None) -> Any:
    try:
        # No parameters: libpq reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...
        conn = psycopg2.connect(**conn_params) if conn_params else psycopg2.connect("")
    except psycopg2.OperationalError as exc:
        raise LoadError(f"cannot connect to PostgreSQL: {str(exc).strip()}") from exc
    conn.set_client_encoding("UTF8")
    with conn.cursor() as cur:
        cur.execute("show server_encoding")
        encoding = cur.fetchone()[0]
    conn.rollback()
    if encoding != "UTF8":
        conn.close()
        # md5() over text must see the file's UTF-8 bytes for the checksums to agree.
        raise LoadError(f"the database must use UTF8 encoding (it uses {encoding})")
    return conn


def _load_file(conn: Any, f: _RawFile, replace: bool, tamper: TamperHook | None) -> FileResult:
    sha256, size = _sha256_and_size(f.path)
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        cur.execute("select (now() at time zone 'utc')::timestamp")
        loaded_at = cur.fetchone()[0]
        cur.execute(
            sql.SQL("select sha256, target_table, row_count from {} where file_name = %s").format(
                _ident(*MANIFEST_TABLE)
            ),
            (f.name,),
        )
        previous = cur.fetchone()
        status = "loaded"
        if previous is not None:
            old_sha, old_table, old_rows = previous
            if old_sha == sha256:
                return FileResult(f.name, f.qualified, int(old_rows or 0), "skipped")
            if not replace:
                raise LoadError(
                    f"file {f.name} changed since it was loaded (sha256 now {sha256} vs "
                    f"{old_sha} when loaded); rerun with --replace"
                )
            status = "replaced"
            # Delete from the table the manifest says it went to too (only known raw tables).
            targets = {(f.schema, f.table)}
            if old_table in _KNOWN_TABLES:
                targets.add(_KNOWN_TABLES[old_table])
            for schema, table in sorted(targets):
                cur.execute(
                    sql.SQL("delete from {} where _file_name = %s").format(_ident(schema, table)),
                    (f.name,),
                )

        try:
            if f.dify_table is None:
                file_rows, file_sum, read_sha = _copy_amplitude(cur, f, loaded_at)
            else:
                file_rows, file_sum = _dify_rows_and_checksum(f)
                read_sha = _copy_dify(cur, f, loaded_at)
        except psycopg2.Error as exc:
            message = " ".join((exc.pgerror or str(exc)).split())
            raise LoadError(f"{f.name}: PostgreSQL refused the data: {message}") from exc
        except LoadError as exc:
            if str(exc).startswith(f.name):
                raise
            raise LoadError(f"{f.name}: {exc}") from exc
        if read_sha != sha256:
            raise LoadError(f"{f.name}: the file changed while it was being loaded; load again")

        if tamper is not None:
            tamper(cur, f.name, f.qualified)

        db_rows, db_sum = _landed_figures(cur, f)
        if (db_rows, db_sum) != (file_rows, file_sum):
            raise LoadError(
                f"{f.name}: landed rows do not reconcile with the file, rolled back: "
                f"rows {file_rows} in file vs {db_rows} in database, "
                f"checksum {file_sum} in file vs {db_sum} in database"
            )
        cur.execute(
            sql.SQL(
                "insert into {} (file_name, target_table, size_bytes, sha256, row_count, "
                "row_checksum, loaded_at) values (%s, %s, %s, %s, %s, %s, %s) "
                "on conflict (file_name) do update set target_table = excluded.target_table, "
                "size_bytes = excluded.size_bytes, sha256 = excluded.sha256, "
                "row_count = excluded.row_count, row_checksum = excluded.row_checksum, "
                "loaded_at = excluded.loaded_at"
            ).format(_ident(*MANIFEST_TABLE)),
            (f.name, f.qualified, size, sha256, file_rows, file_sum, loaded_at),
        )
    return FileResult(f.name, f.qualified, file_rows, status)


def _analyze_changed(conn: Any, report: LoadReport) -> None:
    """Fresh planner statistics for every table that received rows: autovacuum's analyze
    comes a minute or more later, and a dbt build started before it plans without them."""
    tables = sorted({f.table for f in report.files if f.status != "skipped"})
    with conn.cursor() as cur:
        for table in tables:
            schema, name = table.split(".", 1)
            cur.execute(sql.SQL("analyze {}").format(_ident(schema, name)))
    conn.commit()


def load(
    raw_dir: Path,
    replace: bool = False,
    conn_params: dict | None = None,
    *,
    _tamper: TamperHook | None = None,
) -> LoadReport:
    """Land every file of `raw_dir` (see the module docstring); returns what was done.

    Connection: `conn_params` (psycopg2.connect keywords) or the standard PG* variables.
    Raises LoadError on the first file that cannot be landed; files before it stay committed
    (each file is its own transaction) and are skipped by the next run.
    """
    raw_dir = Path(raw_dir)
    files, missing_optional, warnings = _discover(raw_dir)
    for f in files:
        if f.dify_table is not None:
            _read_header(f)

    report = LoadReport(warnings=warnings)
    conn = _connect(conn_params)
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
            _ensure_objects(cur)
        conn.commit()
        report.created_empty = [f"raw_dify.{t}" for t in missing_optional]

        for f in files:
            try:
                result = _load_file(conn, f, replace, _tamper)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            log.info("%s -> %s: %s rows (%s)", f.name, f.qualified, result.rows, result.status)
            report.files.append(result)
        _analyze_changed(conn, report)
    except psycopg2.Error as exc:
        conn.rollback()
        raise LoadError(f"PostgreSQL error: {' '.join((exc.pgerror or str(exc)).split())}") from exc
    finally:
        conn.close()
    return report
