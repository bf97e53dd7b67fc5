"""Batch invariance: building the project delivery by delivery (one full refresh, then
incremental `dbt build`s as new files arrive) gives exactly the tables of one full refresh
over everything delivered, on DuckDB and on PostgreSQL.

One generated sample is cut into 4 deliveries (tests/python/deliveries.py: Amplitude lines by
server_upload_time quartile, merged ids by merge time, Dify CSVs as cumulative snapshots by
created_at). The sample holds late Amplitude uploads and late logins that straddle the
delivery boundaries (checked below), so an incremental model that only looks at the new
rows, or never revisits an earlier person / session / day, shows up as a difference.

- chain: deliveries 1..4 land one at a time in one raw folder (PostgreSQL: `load()` into one
  database, replace=True so the grown Dify snapshots reload); delivery 1 is built with
  `--full-refresh`, 2, 3 and 4 with a plain `dbt build`;
- reference: a fresh warehouse over all 4 deliveries, built with `--full-refresh`;
- every table of the staging, intermediate and marts schemas is equal row by row (DuckDB:
  every column, `_loaded_at` is the file mtime and the deliveries have fixed mtimes, but
  `loaded_at` of the Dify staging tables: a batch keeps a re-exported, unchanged snapshot
  row as first staged; PostgreSQL: every column but those named `*loaded_at`, the load
  time), except the build bookkeeping (BOOKKEEPING_TABLES and `staged_at`);
- after delivery 2, the chain's fct_events equals a full refresh over deliveries 1..2;
- a 5th build with nothing new (PostgreSQL: the loader skips every file) changes nothing.

Each chain runs next to its references (two dbt processes at a time) to keep the module
within a few minutes on two cores.

Unit tests (`test_type:unit`) are excluded from these builds: they do not read the
deliveries, and other suites run them. Data tests run on every chain step.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime as dt
import io
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llm_product_analytics.generate import generate
from llm_product_analytics.load import LoadReport, load

from conftest import create_database, drop_database
from dbt_harness import (
    duckdb_tables,
    normalise,
    query_duckdb,
    query_postgres,
    run_dbt,
)
from deliveries import (
    DeliveryPlan,
    apply_delivery,
    csv_records,
    delivery_name,
    event_upload_time,
    merge_time,
    parse_timestamp,
    plan_deliveries,
    read_gz_lines,
)

SAMPLE = {"users": 350, "days": 21, "seed": 7}
N_DELIVERIES = 4
SCHEMAS = ("staging", "intermediate", "marts")
MAIN_MARTS = (
    "marts.fct_events",
    "marts.fct_sessions",
    "marts.dim_identity_map",
    "marts.fct_llm_messages",
    "marts.fct_funnel_progress",
    "marts.rpt_retention",
    "marts.rpt_daily_kpis",
)
NO_UNIT_TESTS = ["--exclude", "test_type:unit"]
FIRST_BUILD = ["build", "--full-refresh", *NO_UNIT_TESTS]
INCREMENTAL_BUILD = ["build", *NO_UNIT_TESTS]
# The reference only has to exist: its data tests add nothing to the comparison.
REFERENCE_BUILD = [
    "build",
    "--full-refresh",
    "--exclude",
    "resource_type:test",
    "resource_type:unit_test",
]
FCT_EVENTS_REFERENCE_BUILD = [*REFERENCE_BUILD, "--select", "+fct_events"]

Snapshot = dict[str, Counter]  # "schema.table" -> multiset of comparable rows


# ---------------------------------------------------------------- comparing warehouses


# Build bookkeeping, different between any two builds by design and in no mart: the log of
# finished builds, the batch scope tables (empty on a full build) and `staged_at` (the start
# of the build that staged an Amplitude row). Nothing else is left out.
BOOKKEEPING_TABLES = {
    "intermediate.lpa_build_log",
    "intermediate.int_events__batch_window",
    "intermediate.int_events__changed",
    "intermediate.int_events__changed_keys",
}


def build_metadata(column: str) -> bool:
    return column == "staged_at"


def dify_first_loaded_at(table: str) -> Callable[[str], bool]:
    # A Dify CSV is a whole-table snapshot: a batch restages only the rows that changed, so
    # an unchanged row keeps the mtime of the snapshot that first brought it, where a full
    # refresh gives every row the latest one. Left out for the Dify staging tables only.
    if table.startswith("staging.") and "dify" in table:
        return lambda column: column == "loaded_at" or build_metadata(column)
    return build_metadata


def postgres_loaded_at(column: str) -> bool:
    # PostgreSQL `_loaded_at` is the load transaction time: it differs between a chain and a
    # one-shot load by construction. Only these columns are left out, and only on PostgreSQL.
    return column.endswith("loaded_at") or build_metadata(column)


def comparable(rows: list[dict], ignore: Callable[[str], bool] | None = None) -> Counter:
    """Rows as hashable tuples of (column, normalised value), columns sorted."""
    return Counter(
        tuple(
            (column, normalise(column, value))
            for column, value in sorted(row.items())
            if ignore is None or not ignore(column)
        )
        for row in rows
    )


def snapshot_duckdb(path: Path) -> Snapshot:
    return {
        f"{schema}.{table}": comparable(
            query_duckdb(path, f'select * from {schema}."{table}"'),
            dify_first_loaded_at(f"{schema}.{table}"),
        )
        for schema in SCHEMAS
        for table in duckdb_tables(path, schema)
        if f"{schema}.{table}" not in BOOKKEEPING_TABLES
    }


def postgres_tables(params: dict[str, str], schema: str) -> list[str]:
    rows = query_postgres(
        params,
        "select table_name from information_schema.tables"
        f" where table_schema = '{schema}' order by table_name",
    )
    return [r["table_name"] for r in rows]


def snapshot_postgres(params: dict[str, str]) -> Snapshot:
    return {
        f"{schema}.{table}": comparable(
            query_postgres(params, f'select * from {schema}."{table}"'), postgres_loaded_at
        )
        for schema in SCHEMAS
        for table in postgres_tables(params, schema)
        if f"{schema}.{table}" not in BOOKKEEPING_TABLES
    }


def _show(value: object, width: int = 300) -> str:
    text = repr(dict(value) if isinstance(value, tuple) else value)
    return text if len(text) <= width else text[:width] + " ..."


def _pair(row: tuple, candidates: list[tuple]) -> tuple | None:
    """The candidate sharing the most column values with row, if it shares at least half."""
    values = set(row)
    best = max(candidates, key=lambda c: len(values.intersection(c)), default=None)
    return best if best is not None and 2 * len(values.intersection(best)) >= len(row) else None


def table_diff(name: str, got: Counter, want: Counter, limit: int = 3) -> str | None:
    """None when equal, else the counts and the first few differing rows: a chain row next to
    its closest reference row shows only the columns that differ."""
    if got == want:
        return None
    only_got = sorted((got - want).elements(), key=repr)
    only_want = sorted((want - got).elements(), key=repr)
    lines = [
        f"{name}: {got.total()} rows in the chain vs {want.total()} in the reference; "
        f"{len(only_got)} only in the chain, {len(only_want)} only in the reference"
    ]
    shown: list[tuple] = []
    for row in only_got[:limit]:
        match = _pair(row, only_want)
        if match is None:
            lines.append(f"  chain only:     {_show(row)}")
            continue
        shown.append(match)
        ref = dict(match)
        changed = {k: (v, ref.get(k)) for k, v in row if ref.get(k) != v}
        same = {k: v for k, v in row if k not in changed}
        lines.append(f"  chain row {_show(same, 200)} differs from the reference in:")
        lines += [
            f"      {k}: chain {_show(a, 120)}, reference {_show(b, 120)}"
            for k, (a, b) in changed.items()
        ]
    rest = [r for r in only_want if r not in shown]
    lines += [f"  reference only: {_show(r)}" for r in rest[: max(0, limit - len(shown))]]
    return "\n".join(lines)


def assert_same_tables(got: Snapshot, want: Snapshot, what: str, detailed: int = 5) -> None:
    """Same tables, each equal as a multiset of rows. On failure: every differing table with
    its counts, rows for the first `detailed` ones (upstream schemas first: the first
    difference is usually the cause of the later ones)."""
    assert sorted(got) == sorted(want), (
        f"{what}: different table sets; only in the chain {sorted(set(got) - set(want))}, "
        f"only in the reference {sorted(set(want) - set(got))}"
    )
    assert any(name.startswith("marts.") for name in want), f"{what}: no marts at all"
    order = sorted(want, key=lambda n: (SCHEMAS.index(n.split(".")[0]), n))
    diffs = [d for name in order if (d := table_diff(name, got[name], want[name]))]
    summary = [d if i < detailed else d.splitlines()[0] for i, d in enumerate(diffs)]
    assert not diffs, f"{what}: {len(diffs)} of {len(want)} tables differ\n" + "\n".join(summary)


# ---------------------------------------------------------------- the sample and its plan


@pytest.fixture(scope="module")
def sample_raw(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("incremental_sample")
    generate(out_dir=raw, **SAMPLE)
    return raw


@pytest.fixture(scope="module")
def plan(sample_raw: Path) -> DeliveryPlan:
    return plan_deliveries(sample_raw, n=N_DELIVERIES)


@pytest.fixture(scope="module")
def delivered(plan: DeliveryPlan, sample_raw: Path, tmp_path_factory) -> dict[int, Path]:
    """Folders holding deliveries 1..k, for k = 1..4, each filled delivery by delivery."""
    out = {}
    for k in range(1, N_DELIVERIES + 1):
        target = tmp_path_factory.mktemp(f"delivered_{k}")
        for j in range(1, k + 1):
            apply_delivery(plan, sample_raw, target, j)
        out[k] = target
    return out


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _original_of(rel: str) -> tuple[str, int] | None:
    """`X.d<k>.json.gz` -> (`X.json.gz`, k)."""
    stem, sep, _ = rel.rpartition(".json.gz")
    head, dot, tag = stem.rpartition(".d")
    if not sep or not dot or not tag.isdigit():
        return None
    return f"{head}.json.gz", int(tag)


def is_subsequence(part: list[bytes], lines: list[bytes]) -> bool:
    rest = iter(lines)
    return all(any(line == other for other in rest) for line in part)


# ---------------------------------------------------------------- the splitter itself


def test_every_amplitude_line_is_delivered_exactly_once_in_its_window(
    plan: DeliveryPlan, sample_raw: Path, delivered: dict[int, Path]
) -> None:
    final = delivered[N_DELIVERIES]
    originals = {rel for rel in _files(sample_raw) if rel.startswith("amplitude/")}
    assert originals == set(plan.amplitude)
    per_original: dict[str, dict[int, list[bytes]]] = collections.defaultdict(dict)
    for rel, path in _files(final).items():
        if not rel.startswith("amplitude/"):
            continue
        parsed = _original_of(rel)
        assert parsed is not None and parsed[0] in originals, rel
        per_original[parsed[0]][parsed[1]] = read_gz_lines(path)
    bounds = (dt.datetime.min, *plan.split_points, dt.datetime.max)
    lines_per_delivery: Counter = Counter()
    for rel in sorted(originals):
        lines = read_gz_lines(sample_raw / rel)
        parts = per_original[rel]
        # Nothing lost, nothing doubled, every part in the original order.
        assert Counter(line for part in parts.values() for line in part) == Counter(lines), rel
        is_merge = rel.startswith("amplitude/merge_ids/")
        for k, part in parts.items():
            assert part, f"{rel}: empty delivery file d{k}"
            assert is_subsequence(part, lines), (rel, k)
            lines_per_delivery[(is_merge, k)] += len(part)
            for line in part:
                when = merge_time(line) if is_merge else event_upload_time(line)
                if when is None:
                    assert k == 1, (rel, line)
                else:
                    assert bounds[k - 1] < when <= bounds[k], (rel, k, when)
    for is_merge in (False, True):
        counts = [lines_per_delivery[(is_merge, k)] for k in range(1, N_DELIVERIES + 1)]
        assert all(counts), ("merge_ids" if is_merge else "events", counts)
    # Split points are the quartiles: event deliveries are about equally large.
    events = [lines_per_delivery[(False, k)] for k in range(1, N_DELIVERIES + 1)]
    assert max(events) - min(events) <= 0.01 * sum(events) + 20, events


def test_dify_snapshots_grow_to_the_original_tables(
    plan: DeliveryPlan, sample_raw: Path, delivered: dict[int, Path]
) -> None:
    def rows(path: Path) -> list[list[str]]:
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.reader(handle))

    bounds = (*plan.split_points, dt.datetime.max)
    assert set(plan.dify) == {r for r in _files(sample_raw) if r.startswith("dify/")}
    for rel in plan.dify:
        original = rows(sample_raw / rel)
        header, records = original[0], original[1:]
        at = header.index("created_at")
        previous: list[list[str]] = []
        for k in range(1, N_DELIVERIES + 1):
            snapshot = rows(delivered[k] / rel)
            assert snapshot[0] == header, rel
            when = [parse_timestamp(r[at]) for r in records]
            expected = [
                r
                for r, t in zip(records, when, strict=True)
                if (t or dt.datetime.min) <= bounds[k - 1]
            ]
            assert snapshot[1:] == expected, (rel, k)
            # Cumulative: every row of the previous snapshot is still there.
            assert Counter(map(tuple, previous)) <= Counter(map(tuple, snapshot[1:])), (rel, k)
            previous = snapshot[1:]
        # The last snapshot is the original export, byte for byte.
        assert (delivered[N_DELIVERIES] / rel).read_bytes() == (sample_raw / rel).read_bytes()
    for table in ("messages", "conversations", "message_feedbacks", "end_users"):
        deliveries = Counter(plan.dify[f"dify/{table}.csv"].deliveries)
        assert all(deliveries[k] for k in range(1, N_DELIVERIES + 1)), (table, deliveries)


def test_delivery_files_and_mtimes(
    plan: DeliveryPlan, sample_raw: Path, delivered: dict[int, Path]
) -> None:
    assert list(plan.split_points) == sorted(set(plan.split_points))
    assert list(plan.mtimes) == sorted(set(plan.mtimes))
    for k, root in delivered.items():
        files = _files(root)
        assert (root / "ground_truth.json").read_bytes() == (
            sample_raw / "ground_truth.json"
        ).read_bytes()
        assert os.stat(root / "ground_truth.json").st_mtime == plan.mtimes[0]
        for rel, path in files.items():
            parsed = _original_of(rel)
            if parsed is not None:
                assert parsed[1] <= k, (k, rel)
                assert os.stat(path).st_mtime == plan.mtimes[parsed[1] - 1], rel
            elif rel.startswith("dify/"):
                assert os.stat(path).st_mtime == plan.mtimes[k - 1], rel
        # Every file of deliveries <= k is there.
        for rel, deliveries in plan.amplitude.items():
            for j in set(deliveries):
                assert (delivery_name(rel, j) in files) == (j <= k), (k, rel, j)
    # A delivery cannot be applied on top of a later one.
    with pytest.raises(ValueError, match="already holds delivery"):
        apply_delivery(plan, sample_raw, delivered[3], 2)


def test_csv_records_keep_each_record_text() -> None:
    text = (
        "id,body,created_at\r\n"
        '1,"two\nlines",2026-07-01 00:00:00\r\n'
        '2,"",2026-07-02 00:00:00\r\n'  # an empty string ...
        "3,,\r\n"  # ... vs NULL, and no created_at
        '4,"a ""quoted"", comma\r\nand CRLF",2026-07-03 00:00:00.5\r\n'
    )
    header, records = csv_records(text)
    assert header == "id,body,created_at\r\n"
    assert [t for t, _ in records] == [
        '1,"two\nlines",2026-07-01 00:00:00\r\n',
        '2,"",2026-07-02 00:00:00\r\n',
        "3,,\r\n",
        '4,"a ""quoted"", comma\r\nand CRLF",2026-07-03 00:00:00.5\r\n',
    ]
    assert [f for _, f in records] == list(csv.reader(io.StringIO(text, newline="")))[1:]


def test_sample_has_late_arrivals_across_deliveries(plan: DeliveryPlan, sample_raw: Path) -> None:
    """The chain is only a test of incremental logic if late data crosses a boundary: events
    uploaded a delivery after their event_time, and devices used anonymously in one delivery
    whose first login arrives in a later one."""
    late_events = 0
    devices: dict[str, list[tuple[dt.datetime, bool, int]]] = collections.defaultdict(list)
    for rel in plan.amplitude:
        if rel.startswith("amplitude/merge_ids/"):
            continue
        for line in read_gz_lines(sample_raw / rel):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            event_time = parse_timestamp(record.get("event_time"))
            upload = parse_timestamp(record.get("server_upload_time"))
            if event_time is None or upload is None:
                continue
            k = plan.delivery_of(upload)
            if plan.delivery_of(event_time) < k and upload - event_time >= dt.timedelta(days=1):
                late_events += 1
            if record.get("device_id"):
                devices[record["device_id"]].append((event_time, bool(record.get("user_id")), k))
    late_logins = 0
    for events in devices.values():
        events.sort()
        anonymous = [e for e in events if not e[1]]
        logins = [e for e in events if e[1]]
        if anonymous and logins and logins[0][0] > anonymous[0][0]:
            late_logins += logins[0][2] > anonymous[0][2]
    assert late_events >= 10, f"only {late_events} late events cross a delivery boundary"
    assert late_logins >= 10, f"only {late_logins} devices log in a delivery after first use"


# ---------------------------------------------------------------- building the warehouses


@contextlib.contextmanager
def _database(server: dict[str, str], label: str) -> Iterator[dict[str, str]]:
    name = f"lpa_incremental_{label}_{uuid.uuid4().hex[:8]}"
    create_database(server, name)
    try:
        yield {**server, "dbname": name}
    finally:
        drop_database(server, name)


@dataclass
class Chain:
    """One warehouse built delivery by delivery (PostgreSQL: pg_params set)."""

    raw: Path
    work: Path
    pg_params: dict[str, str] | None = None
    fct_events_after_2: Counter = field(default_factory=Counter)
    final: Snapshot = field(default_factory=dict)

    def land_and_build(self, args: list[str]) -> LoadReport | None:
        """PostgreSQL: `load()` the folder first (an unchanged file is skipped, a grown Dify
        snapshot replaces the landed one); then `dbt <args>`. Returns the load report."""
        report = None
        if self.pg_params is not None:
            report = load(raw_dir=self.raw, replace=True, conn_params=self.pg_params)
        run_dbt(
            args,
            target="duckdb" if self.pg_params is None else "postgres",
            raw_path=self.raw,
            work_dir=self.work,
            pg_params=self.pg_params,
        )
        return report

    def snapshot(self) -> Snapshot:
        if self.pg_params is None:
            return snapshot_duckdb(self.work / "warehouse.duckdb")
        return snapshot_postgres(self.pg_params)

    def query(self, sql: str) -> list[dict]:
        if self.pg_params is None:
            return query_duckdb(self.work / "warehouse.duckdb", sql)
        return query_postgres(self.pg_params, sql)

    def run(self, plan: DeliveryPlan, sample_raw: Path) -> None:
        for k in range(1, N_DELIVERIES + 1):
            apply_delivery(plan, sample_raw, self.raw, k)
            self.land_and_build(FIRST_BUILD if k == 1 else INCREMENTAL_BUILD)
            if k == 2:
                self.fct_events_after_2 = self.snapshot()["marts.fct_events"]
        self.final = self.snapshot()


def one_shot(raw: Path, work: Path, args: list[str], server: dict[str, str] | None) -> Snapshot:
    """A fresh warehouse over raw built by one `dbt <args>`, read back."""
    if server is None:
        run_dbt(args, target="duckdb", raw_path=raw, work_dir=work)
        return snapshot_duckdb(work / "warehouse.duckdb")
    with _database(server, work.name) as params:
        load(raw_dir=raw, conn_params=params)
        run_dbt(args, target="postgres", raw_path=raw, work_dir=work, pg_params=params)
        return snapshot_postgres(params)


@dataclass
class Run:
    chain: Chain
    reference: Snapshot  # full refresh over deliveries 1..4
    reference_2: Snapshot  # full refresh of +fct_events over deliveries 1..2
    reference_work: Path  # the full refresh's work folder (DuckDB: its warehouse.duckdb)


def run_chain_and_references(
    chain: Chain,
    plan: DeliveryPlan,
    sample_raw: Path,
    delivered: dict[int, Path],
    work: Callable[[str], Path],
    server: dict[str, str] | None,
) -> Run:
    """The chain in one thread, the two references in another: dbt is mostly one busy
    Python process waiting on the database, so two at a time fill two cores better."""
    ref_work, ref_2_work = work("reference"), work("reference_2")

    def references() -> tuple[Snapshot, Snapshot]:
        return (
            one_shot(delivered[N_DELIVERIES], ref_work, REFERENCE_BUILD, server),
            one_shot(delivered[2], ref_2_work, FCT_EVENTS_REFERENCE_BUILD, server),
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        chain_done = pool.submit(chain.run, plan, sample_raw)
        refs = pool.submit(references)
        chain_done.result()
        reference, reference_2 = refs.result()
    return Run(chain, reference, reference_2, ref_work)


def check_chain_equals_full_refresh(run: Run, what: str) -> None:
    assert_same_tables(run.chain.final, run.reference, what)
    for name in MAIN_MARTS:
        assert run.reference[name].total() > 0, f"{what}: {name} is empty"


def check_after_two_deliveries(run: Run, what: str) -> None:
    want = run.reference_2["marts.fct_events"]
    assert want.total() > 0
    diff = table_diff(
        f"{what} marts.fct_events after delivery 2", run.chain.fct_events_after_2, want
    )
    assert diff is None, diff


def check_nothing_new_changes_nothing(
    run: Run, plan: DeliveryPlan, sample_raw: Path, what: str
) -> None:
    apply_delivery(plan, sample_raw, run.chain.raw, N_DELIVERIES)  # no new file
    report = run.chain.land_and_build(INCREMENTAL_BUILD)
    if report is not None:  # PostgreSQL: the loader found nothing new either
        assert report.count("skipped") == len(report.files), report.summary_lines()
    assert_same_tables(run.chain.snapshot(), run.chain.final, f"{what} 5th build")
    # The window was recomputed, but every event came out as it was: int_events__unioned
    # wrote none (no staged_at of this build), so no event is rewritten in fct_events, no
    # person, session, identifier or date is recomputed, and the only messages recomputed
    # are those of the quarantined Dify rows every build re-checks.
    [scope] = run.chain.query(
        "select (select count(*) from intermediate.int_events__unioned where staged_at >= "
        "(select max(built_at) from intermediate.lpa_build_log)) as written, "
        "(select count(*) from intermediate.int_events__changed) as rebuilt, "
        "(select count(*) from intermediate.int_events__changed_keys"
        " where event_version in ('prior', 'current')) as moved, "
        "(select count(*) from intermediate.int_events__changed_keys"
        " where event_version = 'message') as messages, "
        "(select count(*) from (select message_id from staging.base_dify__messages"
        " where rejection_reason = 'broken_reference' and message_id is not null"
        " union select message_id from staging.base_dify__message_feedbacks"
        " where rejection_reason = 'broken_reference' and message_id is not null) as q)"
        " as rechecked"
    )
    assert scope["written"] == 0 and scope["rebuilt"] == 0, scope
    assert scope["moved"] == 0 and scope["messages"] == scope["rechecked"], scope


# ---------------------------------------------------------------- DuckDB


@pytest.fixture(scope="module")
def duckdb_run(
    plan: DeliveryPlan, sample_raw: Path, delivered: dict[int, Path], tmp_path_factory
) -> Run:
    def work(name: str) -> Path:
        return tmp_path_factory.mktemp(f"duckdb_{name}")

    chain = Chain(raw=work("chain_raw"), work=work("chain"))
    return run_chain_and_references(chain, plan, sample_raw, delivered, work, None)


def test_duckdb_chain_equals_full_refresh(duckdb_run: Run) -> None:
    check_chain_equals_full_refresh(duckdb_run, "DuckDB")


def test_duckdb_chain_after_two_deliveries(duckdb_run: Run) -> None:
    check_after_two_deliveries(duckdb_run, "DuckDB")


def test_duckdb_build_without_new_files_changes_nothing(
    duckdb_run: Run, plan: DeliveryPlan, sample_raw: Path
) -> None:
    check_nothing_new_changes_nothing(duckdb_run, plan, sample_raw, "DuckDB")


# The tables a batch deletes a time window of (lpa_storage_order).
STORAGE_ORDERED = (
    "intermediate.int_events__unioned",
    "intermediate.int_events__dify_derived",
    "marts.fct_events",
)


def test_duckdb_event_tables_are_stored_in_event_time_order(duckdb_run: Run) -> None:
    """A full build writes the event tables in event_at order (lpa_storage_order): DuckDB
    rewrites, at the checkpoint after a delete, every row group the delete thinned out, so a
    batch's window must be whole row groups. Row ids follow insertion order."""
    path = duckdb_run.reference_work / "warehouse.duckdb"
    for table in STORAGE_ORDERED:
        [row] = query_duckdb(
            path,
            "select count(*) as n_rows, count(*) filter (where event_at < previous_at)"
            " as descents from (select event_at, lag(event_at) over (order by rowid)"
            f" as previous_at from {table}) as stored",
        )
        assert row["n_rows"] > 1000 and row["descents"] == 0, (table, row)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def postgres_run(
    postgres_available: dict[str, str],
    plan: DeliveryPlan,
    sample_raw: Path,
    delivered: dict[int, Path],
    tmp_path_factory,
) -> Iterator[Run]:
    def work(name: str) -> Path:
        return tmp_path_factory.mktemp(f"postgres_{name}")

    with _database(postgres_available, "chain") as params:
        chain = Chain(raw=work("chain_raw"), work=work("chain"), pg_params=params)
        yield run_chain_and_references(chain, plan, sample_raw, delivered, work, postgres_available)


def test_postgres_chain_equals_full_refresh(postgres_run: Run) -> None:
    check_chain_equals_full_refresh(postgres_run, "PostgreSQL")


def test_postgres_chain_after_two_deliveries(postgres_run: Run) -> None:
    check_after_two_deliveries(postgres_run, "PostgreSQL")


def test_postgres_build_without_new_files_changes_nothing(
    postgres_run: Run, plan: DeliveryPlan, sample_raw: Path
) -> None:
    check_nothing_new_changes_nothing(postgres_run, plan, sample_raw, "PostgreSQL")
