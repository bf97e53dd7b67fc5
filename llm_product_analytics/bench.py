"""`lpa bench`: one run that measures the whole pipeline against its targets.

    lpa bench [--events N] [--target duckdb|postgres] [--out results/bench] [--keep]

Steps (all in one temporary work folder, removed at the end unless --keep):

1. data: the project generator (`generate`) writes days + 1 (default DAYS + 1) days of
   deliveries with about N
   raw records (Amplitude lines + Dify rows; users are scaled from a small calibration run).
   The deliveries are split by date: everything before the last day is the "full" input, the
   last day (Amplitude files of that upload date and later, Dify rows created that day) is
   the "new day". Dify is a full-table export, so the new-day CSVs replace the old ones.
2. floor: the cheapest possible pass over the same input in the same engine. DuckDB: read
   every raw file with the project's own source reader options (Amplitude gz lines into one
   table, each Dify CSV into a table). PostgreSQL: `lpa load` lands the files (timed as
   "landing"); the floor is `create table as select *` over every landed raw table.
3. full build: `dbt build` of seeds and models (tests excluded), wall time of the command,
   per-model times from run_results.json; then `dbt test`, timed separately.
4. second build: the new day is added and `dbt build` runs again without --full-refresh.
   Before it, the batch floor: the same kind of pass over what any build after the new day
   must read at least, the new day's Amplitude files and every Dify CSV whole (a Dify
   delivery is a whole-table snapshot); reported against the full build, without a target.
   PostgreSQL first gets the VACUUM autovacuum would run in the day between two builds
   (timed as "maintenance", in neither build).
   While every model is a table this is a full rebuild; the report says how many models are
   incremental (from manifest.json), so the same code measures real incremental builds.
5. funnel: synthetic heavy users (hundreds of events each, 7 days) in a separate warehouse
   as `marts.fct_events`; the project's funnel models (int_funnel__attempts,
   int_funnel__daily_progress, fct_funnel_progress, times from run_results.json) against a
   naive self-join funnel (one left join per step) computing the same furthest step per
   person. Both must give the same persons per step. Run twice: with a 7-day conversion
   window, which holds each heavy user's hundreds of events (the target), and with a 1-day
   window (about 70 events per person and window), reported without a target. The
   self-join's cost grows with the events per person inside one window; the models' does not.
6. peak memory: the peak resident set size of each measured subprocess (dbt, generator,
   loader), exact from the kernel (`os.wait4` rusage ru_maxrss of that child). DuckDB runs
   inside the dbt process, so on DuckDB this is the whole build; on PostgreSQL the server's
   memory is not included.

Missed targets are reported as FAIL, never raised. A failing command (build error) raises
BenchError with the tail of its log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from llm_product_analytics.warehouse import pg_env, pg_params_from_env

DEFAULT_EVENTS = {"duckdb": 10_000_000, "postgres": 1_000_000}
DAYS = 30  # default days in the full build; the generator writes days + 1
START_DATE = "2026-07-01"
SEED = 20260701
CALIBRATION_USERS = 400
FUNNEL_STEPS = ("page_view", "query_submitted", "workflow_completed", "result_exported")
# The target is measured with a 7-day conversion window, which holds all of a heavy user's
# events; the 1-day window (about 70 events per person and window) is reported alongside.
FUNNEL_WINDOW_SECONDS = 7 * 86400
FUNNEL_SHORT_WINDOW_SECONDS = 86400
FUNNEL_MODELS = ("int_funnel__attempts", "int_funnel__daily_progress", "fct_funnel_progress")
HEAVY_DAYS = 7
HEAVY_EVENTS_PER_PERSON = (200, 800)  # uniform, inclusive
SELF_JOIN_TIMEOUT_S = 600
TARGETS = {
    "full_vs_floor_max": 6.0,
    "second_vs_full_max": 0.10,
    "funnel_speedup_min": 5.0,
    "peak_memory_gib_max": 4.0,
}
PEAK_MEMORY_TARGET_EVENTS = 10_000_000
DIFY_CONFIG_TABLES = ("apps", "app_model_configs", "accounts")
AMPLITUDE_FILE_DATE = re.compile(r"_(\d{4}-\d{2}-\d{2})_\d+(#\d+)?\.json\.gz$")
GIB = 1024**3


class BenchError(RuntimeError):
    """A benchmark step could not run (not a missed target)."""


@dataclass
class Measured:
    wall_s: float
    peak_rss_bytes: int
    returncode: int
    log: Path


def run_measured(cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> Measured:
    """Run cmd to completion; wall time and the child's exact peak RSS (wait4 rusage)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB.
    return Measured(wall, usage.ru_maxrss * 1024, proc.returncode, log)


def _check(step: str, m: Measured) -> Measured:
    if m.returncode != 0:
        tail = m.log.read_text(errors="replace")[-4000:]
        raise BenchError(f"{step} failed (exit {m.returncode}); log {m.log}:\n{tail}")
    return m


# ---------------------------------------------------------------- environment


def project_dir() -> Path:
    cwd = Path.cwd()
    if (cwd / "dbt_project.yml").exists():
        return cwd
    return Path(__file__).resolve().parents[1]


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"`{name}` not found next to {sys.executable} or on PATH")
    return found


def lookback_days() -> int:
    """The project's var lookback_days (dbt_project.yml), which the second build uses."""
    import yaml

    project = yaml.safe_load((project_dir() / "dbt_project.yml").read_text())
    return int(project["vars"]["lookback_days"])


def engine_settings() -> dict[str, str]:
    """What the profile gives DuckDB (profiles.example.yml reads these variables)."""
    return {
        "memory_limit": os.environ.get("LPA_DUCKDB_MEMORY_LIMIT", "3.5GB"),
        "threads": os.environ.get("LPA_THREADS", "2"),
    }


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {}
    for pkg in ("dbt-core", "dbt-duckdb", "dbt-postgres", "duckdb", "psycopg2-binary"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu_model": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(mem / GIB, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "load_average_at_start": list(os.getloadavg()),
    }


# ---------------------------------------------------------------- data


def calibrate(work: Path, days: int) -> float:
    """Raw records (Amplitude lines + Dify rows) per generated user over days + 1 days."""
    from llm_product_analytics.generate import generate

    truth = generate(
        out_dir=work / "calibration",
        users=CALIBRATION_USERS,
        days=days + 1,
        seed=SEED,
        start_date=START_DATE,
    )
    shutil.rmtree(work / "calibration")
    return _records(truth) / CALIBRATION_USERS


def _records(truth: dict) -> int:
    counts = truth["counts"]
    return int(counts["amplitude_lines"] + counts["merge_id_lines"] + counts["dify_rows_total"])


def split_by_day(gen: Path, raw: Path, new_day: Path, last_day: str) -> dict:
    """Full input (before last_day) into raw/, the last day's deliveries into new_day/.

    Files are hard-linked (copied across file systems); Dify CSVs are rewritten with the rows
    created before last_day (config tables and rows without a valid created_at stay whole).
    new_day/dify holds the complete export of the next day."""
    import duckdb

    counts = {"full_amplitude_files": 0, "new_day_amplitude_files": 0}
    for path in sorted((gen / "amplitude").rglob("*.json.gz")):
        match = AMPLITUDE_FILE_DATE.search(path.name)
        if not match:
            raise BenchError(f"unexpected Amplitude file name {path}")
        is_new = match.group(1) >= last_day
        dest = (new_day if is_new else raw) / path.relative_to(gen)
        counts["new_day_amplitude_files" if is_new else "full_amplitude_files"] += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        _link(path, dest)
    (raw / "dify").mkdir(parents=True, exist_ok=True)
    (new_day / "dify").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    full_rows = new_rows = 0
    try:
        for csv in sorted((gen / "dify").glob("*.csv")):
            _link(csv, new_day / "dify" / csv.name)
            if csv.stem in DIFY_CONFIG_TABLES:
                _link(csv, raw / "dify" / csv.name)
                continue
            reader = (
                f"read_csv('{csv}', header = true, all_varchar = true, "
                "allow_quoted_nulls = false, delim = ',', quote = '\"', escape = '\"')"
            )
            is_old = f"coalesce(try_cast(created_at as timestamp) < timestamp '{last_day}', true)"
            con.execute(
                f"copy (select * from {reader} where {is_old}) to '{raw / 'dify' / csv.name}' "
                "(format csv, header true, delimiter ',', quote '\"', escape '\"')"
            )
            old, total = con.execute(
                f"select count(*) filter (where {is_old}), count(*) from {reader}"
            ).fetchone()
            full_rows += old
            new_rows += total - old
    finally:
        con.close()
    counts["full_dify_rows_filtered_tables"] = int(full_rows)
    counts["new_day_dify_rows"] = int(new_rows)
    return counts


def _link(src: Path, dest: Path) -> None:
    if dest.exists():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def add_new_day(raw: Path, new_day: Path) -> None:
    for path in sorted(new_day.rglob("*")):
        if path.is_file():
            dest = raw / path.relative_to(new_day)
            dest.parent.mkdir(parents=True, exist_ok=True)
            _link(path, dest)


def heavy_events(rows: int, seed: int):
    """Synthetic fct_events of heavy users: 200-800 events each over HEAVY_DAYS days (about
    30-110 a day), person-specific rates for the later funnel steps so that persons stop at
    every step. Columns: the ones the funnel models read."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    low, high = HEAVY_EVENTS_PER_PERSON
    persons = max(5, rows // ((low + high) // 2))
    per_person = rng.integers(low, high + 1, size=persons)
    person = np.repeat(np.arange(persons), per_person)
    n = len(person)
    start = pd.Timestamp(START_DATE).value // 1000
    span_us = HEAVY_DAYS * 86400 * 1_000_000
    event_us = start + rng.integers(0, span_us, size=n)
    # Per person: page_view 40 %, query_submitted 25 %, workflow_completed 2-15 %,
    # result_exported 0-2 %, the rest other events.
    p3 = rng.uniform(0.02, 0.15, size=persons)[person]
    p4 = rng.uniform(0.0, 0.02, size=persons)[person]
    u = rng.random(n)
    names = np.array([*FUNNEL_STEPS, "session_started"], dtype=object)
    kind = np.select(
        [u < 0.40, u < 0.65, u < 0.65 + p3, u < 0.65 + p3 + p4],
        [0, 1, 2, 3],
        default=4,
    )
    platforms = np.array(["iOS", "Android", "Web"], dtype=object)
    event_at = pd.to_datetime(event_us, unit="us")
    return pd.DataFrame(
        {
            "event_id": np.char.add("h", np.arange(n).astype(str)).astype(object),
            "person_id": np.char.add("person-", person.astype(str)).astype(object),
            "event_name": names[kind],
            "event_at": event_at,
            "event_date": event_at.normalize().date,
            "platform": platforms[rng.integers(0, 3, size=persons)][person],
        }
    )


def self_join_sql(relation: str, output: str, window_seconds: int) -> str:
    """The naive funnel: one left join per step, each within the window from step 1; the
    furthest step per person."""
    window = f"interval '{window_seconds} seconds'"
    steps = ",\n".join(
        f"s{k} as (select person_id, event_at as t from {relation} where event_name = '{name}')"
        for k, name in enumerate(FUNNEL_STEPS, start=1)
    )
    joins = "\n".join(
        f"left join s{k} on s{k}.person_id = s1.person_id and s{k}.t >= s{k - 1}.t "
        f"and s{k}.t <= s1.t + {window}"
        for k in range(2, len(FUNNEL_STEPS) + 1)
    )
    reached = " ".join(f"when s{k}.t is not null then {k}" for k in range(len(FUNNEL_STEPS), 1, -1))
    return (
        f"create table {output} as\nwith {steps},\n"
        f"chains as (select s1.person_id, case {reached} else 1 end as reached\n"
        f"from s1\n{joins})\n"
        f"select person_id, max(reached) as furthest_step from chains group by person_id"
    )


def persons_per_step_sql(relation: str, extra_where: str = "") -> str:
    cols = ", ".join(
        f"sum(case when furthest_step >= {k} then 1 else 0 end) as step_{k}"
        for k in range(1, len(FUNNEL_STEPS) + 1)
    )
    where = f" where {extra_where}" if extra_where else ""
    return f"select {cols} from {relation}{where}"


# ---------------------------------------------------------------- dbt


class Dbt:
    def __init__(self, work: Path, target: str, raw: Path, pg_params: dict | None) -> None:
        self.work = work
        self.target = target
        self.raw = raw
        self.project = project_dir()
        profiles = work / "profiles"
        profiles.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.project / "profiles.example.yml", profiles / "profiles.yml")
        settings = engine_settings()
        self.env = {
            **os.environ,
            "DBT_PROFILES_DIR": str(profiles),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "LPA_DUCKDB_PATH": str(work / "warehouse.duckdb"),
            "LPA_DUCKDB_MEMORY_LIMIT": settings["memory_limit"],
            "LPA_THREADS": settings["threads"],
        }
        if pg_params:
            self.env.update(pg_env(pg_params))

    def run(
        self,
        step: str,
        args: list[str],
        extra_vars: dict | None = None,
        env: dict | None = None,
        check: bool = True,
    ) -> tuple[Measured, dict]:
        target_path = self.work / "target"
        cmd = [
            _bin("dbt"),
            *args,
            "--target",
            self.target,
            "--project-dir",
            str(self.project),
            "--vars",
            json.dumps({"raw_data_path": str(self.raw), **(extra_vars or {})}),
            "--target-path",
            str(target_path),
            "--log-path",
            str(self.work / "logs"),
        ]
        m = run_measured(cmd, {**self.env, **(env or {})}, self.work / f"{step}.log", self.project)
        if check:
            _check(step, m)
        results_file = target_path / "run_results.json"
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        if results_file.exists():
            shutil.copy(results_file, self.work / f"run_results_{step}.json")
        return m, results

    def incremental_models(self) -> int:
        manifest = json.loads((self.work / "target" / "manifest.json").read_text())
        return sum(
            1
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
            and node["config"].get("materialized") == "incremental"
        )


BUILD_ARGS = ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]


def node_times(results: dict, kind: str = "model") -> dict[str, float]:
    return {
        r["unique_id"].split(".")[-1]: round(float(r["execution_time"]), 3)
        for r in results.get("results", [])
        if r["unique_id"].startswith(f"{kind}.")
    }


def statuses(results: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results.get("results", []):
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


# ---------------------------------------------------------------- engines


def _pg_admin(sql: str, params: dict[str, str] | None = None) -> None:
    """Run one statement outside a transaction (CREATE DATABASE, VACUUM), on the server's
    default database unless `params` names another."""
    import psycopg2

    conn = psycopg2.connect(**(params or pg_params_from_env()))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def duckdb_connect(path: Path):
    import duckdb

    settings = engine_settings()
    con = duckdb.connect(str(path))
    con.execute(f"set memory_limit = '{settings['memory_limit']}'")
    con.execute(f"set threads = {int(settings['threads'])}")
    return con


# What the second build's batch covered, read from the scope models it left behind.
BATCH_SCOPE_SQL = """
select
    (select cutoff_date from intermediate.int_events__batch_window) as cutoff_date,
    (select max(event_date) from marts.fct_events) as last_date,
    (select min(event_date) from marts.fct_events) as first_date,
    (select min(event_date) from intermediate.int_events__changed_keys) as earliest_changed_date,
    (select count(*) from intermediate.int_events__changed) as events_rewritten,
    (
        select count(*) from intermediate.int_events__unioned
        where staged_at >= (select max(built_at) from intermediate.lpa_build_log)
    ) as union_written,
    (
        select count(distinct event_id) from intermediate.int_events__changed_keys
        where event_version in ('prior', 'current')
    ) as events_moved,
    (
        select count(*) from marts.fct_events
        where event_date >= (select cutoff_date from intermediate.int_events__batch_window)
    ) as window_events,
    (select count(*) from marts.fct_events) as events_total,
    (
        select count(distinct person_id) from intermediate.int_events__changed_keys
        where person_id is not null
    ) as persons_touched,
    (select count(distinct person_id) from marts.fct_events) as persons_total
"""


def batch_scope(warehouse: Path | dict) -> dict:
    """The second build's batch: its window (cutoff to the last date), the events
    int_events__unioned wrote (new or different among those it recomputed), the fct_events
    rows it rewrote (those, plus the late logins' and the inactivity sessions they reach) and
    the persons whose history the person-keyed models recomputed. These bound what
    incremental can save."""
    if isinstance(warehouse, dict):
        import psycopg2

        conn = psycopg2.connect(**warehouse)
        try:
            with conn.cursor() as cur:
                cur.execute(BATCH_SCOPE_SQL)
                names = [c.name for c in cur.description]
                row = cur.fetchone()
        finally:
            conn.close()
    else:
        con = duckdb_connect(warehouse)
        try:
            cur = con.execute(BATCH_SCOPE_SQL)
            names = [c[0] for c in cur.description]
            row = cur.fetchone()
        finally:
            con.close()
    b = dict(zip(names, row, strict=True))
    return {
        "cutoff_date": b["cutoff_date"].isoformat(),
        "window_days": (b["last_date"] - b["cutoff_date"]).days + 1,
        "days_total": (b["last_date"] - b["first_date"]).days + 1,
        "earliest_changed_date": str(b["earliest_changed_date"]),
        "events_rewritten": int(b["events_rewritten"]),
        "union_written": int(b["union_written"]),
        "window_events": int(b["window_events"]),
        "events_total": int(b["events_total"]),
        "event_share": round(b["events_rewritten"] / b["events_total"], 3),
        # Rewritten rows that came out different (or are new or gone): only these touch
        # persons, sessions and dates.
        "events_moved": int(b["events_moved"]),
        "persons_touched": int(b["persons_touched"]),
        "persons_total": int(b["persons_total"]),
        "person_share": round(b["persons_touched"] / b["persons_total"], 3),
    }


def duckdb_floor(raw: Path, path: Path, amplitude_files: list[Path] | None = None) -> dict:
    """Read raw files with the sources' reader options and write each to a table: every
    Amplitude file (or only `amplitude_files`) into one table, each Dify CSV into one."""
    con = duckdb_connect(path)
    files = (
        f"'{raw}/amplitude/**/*.json.gz'"
        if amplitude_files is None
        else "[" + ", ".join(f"'{f}'" for f in amplitude_files) + "]"
    )
    lines = (
        f"read_csv({files}, columns = {{'_line': 'VARCHAR'}}, "
        "header = false, delim = chr(1), quote = '', escape = '', auto_detect = false, "
        "filename = true, strict_mode = false, max_line_size = 8388608)"
    )
    statements = [
        "create table floor_amplitude as select filename as _file_name, _line "
        f"from {lines} where _line is not null"
    ]
    for csv in sorted((raw / "dify").glob("*.csv")):
        statements.append(
            f"create table floor_dify_{csv.stem} as select * from read_csv('{csv}', "
            "header = true, all_varchar = true, allow_quoted_nulls = false, delim = ',', "
            "quote = '\"', escape = '\"', filename = true)"
        )
    try:
        start = time.perf_counter()
        for sql in statements:
            con.execute(sql)
        seconds = time.perf_counter() - start
        rows = con.execute(
            "select sum(estimated_size) from duckdb_tables() where table_name like 'floor_%'"
        ).fetchone()[0]
        amplitude_rows = con.execute("select count(*) from floor_amplitude").fetchone()[0]
    finally:
        con.close()
    return {
        "seconds": round(seconds, 3),
        "rows": int(rows or 0),
        "amplitude_lines": int(amplitude_rows),
        "method": "DuckDB: read_csv of every Amplitude .json.gz (lines, the sources' options) "
        "into one table and of each Dify CSV into a table, in one connection with the "
        "profile's memory_limit and threads",
    }


def postgres_floor(
    params: dict, amplitude_files: list[str] | None = None, schema: str = "bench_floor"
) -> dict:
    """`create table as select *` of every landed raw table (or, with `amplitude_files`, of
    the Amplitude lines of those files and of every Dify table) into `schema`."""
    import psycopg2

    conn = psycopg2.connect(**params)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('raw_amplitude', 'raw_dify') order by 1, 2"
            )
            tables = cur.fetchall()
            if amplitude_files is not None:
                tables = [t for t in tables if t[0] == "raw_dify" or t[1] == "events"]
            cur.execute(f"create schema {schema}")
            conn.commit()
            start = time.perf_counter()
            for source_schema, table in tables:
                subset = source_schema == "raw_amplitude" and amplitude_files is not None
                cur.execute(
                    f'create table {schema}."{source_schema}__{table}" as '
                    f'select * from "{source_schema}"."{table}"'
                    + (" where _file_name = any(%s)" if subset else ""),
                    (amplitude_files,) if subset else None,
                )
            conn.commit()
            seconds = time.perf_counter() - start
            cur.execute(f"select count(*) from {schema}.raw_amplitude__events")
            amplitude_lines = cur.fetchone()[0]
            cur.execute(f"drop schema {schema} cascade")
            conn.commit()
    finally:
        conn.close()
    return {
        "seconds": round(seconds, 3),
        "amplitude_lines": int(amplitude_lines),
        "method": "PostgreSQL: create table as select * over every landed raw table "
        "(raw_amplitude.*, raw_dify.*); landing by `lpa load` is reported separately",
    }


def new_day_amplitude_files(raw: Path, new_day: Path) -> list[Path]:
    """The new day's Amplitude event files, as they lie in the raw folder after add_new_day."""
    return sorted(
        raw / path.relative_to(new_day)
        for path in (new_day / "amplitude").rglob("*.json.gz")
        if "merge_ids" not in path.parts
    )


def duckdb_batch_floor(raw: Path, new_day: Path, path: Path) -> dict:
    """What any build after one new day must read at least: the new day's Amplitude files
    and every Dify CSV whole (each delivery is a whole-table snapshot), written to tables."""
    floor = duckdb_floor(raw, path, new_day_amplitude_files(raw, new_day))
    path.unlink()
    floor["method"] = (
        "DuckDB: read_csv of the new day's Amplitude .json.gz (lines) into one table and of "
        "each Dify CSV (whole-table snapshots) into a table, as the floor"
    )
    return floor


def postgres_batch_floor(params: dict, raw: Path, new_day: Path) -> dict:
    """The PostgreSQL counterpart: copy the new day's landed Amplitude lines and every landed
    Dify table into tables (their landing, `lpa load` of the new day, is reported apart)."""
    names = [str(f.relative_to(raw)) for f in new_day_amplitude_files(raw, new_day)]
    floor = postgres_floor(params, names, "bench_batch_floor")
    floor["method"] = (
        "PostgreSQL: create table as select of the new day's landed Amplitude lines and of "
        "every landed Dify table (whole-table snapshots); their landing by `lpa load` is "
        "reported separately"
    )
    return floor


# ---------------------------------------------------------------- funnel


def funnel_vars(window_seconds: int) -> dict:
    return {
        "funnels": [
            {
                "name": "bench_heavy",
                "steps": list(FUNNEL_STEPS),
                "conversion_window": {"seconds": window_seconds},
                "order": "this_order",
                "breakdown": "platform",
            }
        ]
    }


def _run_with_timeout(execute, cancel, timeout: float) -> tuple[float, bool]:
    timer = threading.Timer(timeout, cancel)
    timer.start()
    start = time.perf_counter()
    try:
        execute()
        return time.perf_counter() - start, False
    except Exception as exc:  # noqa: BLE001 - an interrupt surfaces as the driver's error
        elapsed = time.perf_counter() - start
        if elapsed >= timeout * 0.99:
            return elapsed, True
        raise BenchError(f"self-join funnel failed: {exc}") from exc
    finally:
        timer.cancel()


def funnel_benchmark(
    work: Path, target: str, heavy_rows: int, pg_params: dict | None, window_seconds: int
) -> dict:
    frame = heavy_events(heavy_rows, SEED)
    rows = len(frame)
    persons = int(frame["person_id"].nunique())
    step_rows = {name: int((frame["event_name"] == name).sum()) for name in FUNNEL_STEPS}
    heavy_dir = work / f"heavy_{window_seconds}s"
    heavy_dir.mkdir()
    if target == "duckdb":
        path = heavy_dir / "heavy.duckdb"
        con = duckdb_connect(path)
        con.execute("create schema marts")
        con.register("heavy_frame", frame)
        con.execute("create table marts.fct_events as select * from heavy_frame")
        con.close()
        dbt = Dbt(heavy_dir, target, work / "raw", None)
        dbt.env["LPA_DUCKDB_PATH"] = str(path)
    else:
        csv = heavy_dir / "fct_events.csv"
        frame.to_csv(csv, index=False)
        _pg_admin(f'create database "{pg_params["dbname"]}"')
        _copy_heavy_postgres(pg_params, csv)
        dbt = Dbt(heavy_dir, target, work / "raw", pg_params)
    del frame
    select = ["run", "--select", *FUNNEL_MODELS]
    m, results = dbt.run(
        f"funnel_models_{window_seconds}s", select, extra_vars=funnel_vars(window_seconds)
    )
    times = node_times(results)
    model_seconds = sum(times.get(name, 0.0) for name in FUNNEL_MODELS)
    progress = "marts.fct_funnel_progress"
    where = "funnel_name = 'bench_heavy'"

    if target == "duckdb":
        con = duckdb_connect(heavy_dir / "heavy.duckdb")
        try:
            sql = self_join_sql("marts.fct_events", "main.bench_self_join_progress", window_seconds)
            seconds, timed_out = _run_with_timeout(
                lambda: con.execute(sql), con.interrupt, SELF_JOIN_TIMEOUT_S
            )
            model_counts = con.execute(persons_per_step_sql(progress, where)).fetchone()
            join_counts = (
                None
                if timed_out
                else con.execute(persons_per_step_sql("main.bench_self_join_progress")).fetchone()
            )
        finally:
            con.close()
    else:
        import psycopg2

        conn = psycopg2.connect(**pg_params)
        try:
            with conn.cursor() as cur:
                cur.execute(f"set statement_timeout = {SELF_JOIN_TIMEOUT_S * 1000}")
                sql = self_join_sql(
                    "marts.fct_events", "public.bench_self_join_progress", window_seconds
                )
                start = time.perf_counter()
                try:
                    cur.execute(sql)
                    conn.commit()
                    timed_out = False
                except psycopg2.errors.QueryCanceled:
                    conn.rollback()
                    timed_out = True
                seconds = time.perf_counter() - start
                cur.execute(persons_per_step_sql(progress, where))
                model_counts = cur.fetchone()
                join_counts = None
                if not timed_out:
                    cur.execute(persons_per_step_sql("public.bench_self_join_progress"))
                    join_counts = cur.fetchone()
        finally:
            conn.close()
    model_counts = [int(c or 0) for c in model_counts]
    join_counts = [int(c or 0) for c in join_counts] if join_counts else None
    return {
        "rows": rows,
        "persons": persons,
        "events_per_person_range": list(HEAVY_EVENTS_PER_PERSON),
        "days": HEAVY_DAYS,
        "step_events": step_rows,
        "steps": list(FUNNEL_STEPS),
        "window_seconds": window_seconds,
        "model_seconds": round(model_seconds, 3),
        "model_times": {name: times.get(name) for name in FUNNEL_MODELS},
        "dbt_run_wall_s": round(m.wall_s, 3),
        "self_join_seconds": round(seconds, 3),
        "self_join_timed_out": timed_out,
        "self_join_timeout_s": SELF_JOIN_TIMEOUT_S,
        "speedup": round(seconds / model_seconds, 2) if model_seconds else None,
        "persons_per_step_model": model_counts,
        "persons_per_step_self_join": join_counts,
        "counts_equal": join_counts == model_counts if join_counts else None,
    }


def _copy_heavy_postgres(params: dict, csv: Path) -> None:
    import psycopg2

    conn = psycopg2.connect(**params)
    try:
        with conn.cursor() as cur:
            cur.execute("create schema marts")
            cur.execute(
                "create table marts.fct_events (event_id text, person_id text, "
                "event_name text, event_at timestamp, event_date date, platform text)"
            )
            with csv.open() as f:
                cur.copy_expert("copy marts.fct_events from stdin (format csv, header)", f)
            cur.execute("analyze marts.fct_events")
        conn.commit()
    finally:
        conn.close()


# ---------------------------------------------------------------- the run


def run_bench(
    events: int | None = None,
    target: str = "duckdb",
    days: int = DAYS,
    out: Path = Path("results/bench"),
    keep: bool = False,
    log=print,
) -> dict:
    events = events or DEFAULT_EVENTS[target]
    started = dt.datetime.now(dt.UTC)
    work = Path(tempfile.mkdtemp(prefix="lpa-bench-"))
    pg_main = None
    windows = (FUNNEL_WINDOW_SECONDS, FUNNEL_SHORT_WINDOW_SECONDS)
    pg_heavy: dict[int, dict | None] = dict.fromkeys(windows)
    result: dict = {
        "started_at": started.isoformat(timespec="seconds"),
        "target": target,
        "events_requested": events,
        "machine": machine_info(),
        "engine_settings": engine_settings(),
        "targets": TARGETS,
        "work_dir": str(work) if keep else None,
    }
    try:
        log(f"[bench] work folder {work}")
        per_user = calibrate(work, days)
        users = max(20, round(events / per_user))
        log(f"[bench] {per_user:.1f} raw records per user -> {users} users, {days + 1} days")
        gen = work / "gen"
        m = _check(
            "generate",
            run_measured(
                [
                    sys.executable,
                    "-m",
                    "llm_product_analytics",
                    "generate",
                    "--out",
                    str(gen),
                    "--users",
                    str(users),
                    "--days",
                    str(days + 1),
                    "--seed",
                    str(SEED),
                    "--start-date",
                    START_DATE,
                ],
                os.environ.copy(),
                work / "generate.log",
                project_dir(),
            ),
        )
        truth = json.loads((gen / "ground_truth.json").read_text())
        last_day = (dt.date.fromisoformat(START_DATE) + dt.timedelta(days=days)).isoformat()
        raw, new_day = work / "raw", work / "new_day"
        split = split_by_day(gen, raw, new_day, last_day)
        result["data"] = {
            "users": users,
            "days_full": days,
            # The second build's window starts lookback_days before the prior last date;
            # second_build.batch measures what it covered.
            "lookback_days": lookback_days(),
            "new_day": last_day,
            "raw_records": _records(truth),
            "amplitude_lines": truth["counts"]["amplitude_lines"],
            "merge_id_lines": truth["counts"]["merge_id_lines"],
            "dify_rows": truth["counts"]["dify_rows_total"],
            "raw_bytes": sum(p.stat().st_size for p in gen.rglob("*") if p.is_file()),
            "generate_s": round(m.wall_s, 1),
            "generate_peak_rss_gib": round(m.peak_rss_bytes / GIB, 2),
            **split,
        }
        log(f"[bench] generated {result['data']['raw_records']:,} raw records in {m.wall_s:.0f} s")

        if target == "postgres":
            stamp = f"{os.getpid()}_{int(time.time())}"
            pg_main = pg_params_from_env(f"lpa_bench_{stamp}")
            pg_heavy = {
                window: pg_params_from_env(f"lpa_bench_heavy_{window}s_{stamp}")
                for window in pg_heavy
            }
            _pg_admin(f'create database "{pg_main["dbname"]}"')
            landing = _check("load", _lpa_load(work, raw, pg_main, "load", replace=False))
            result["landing"] = {
                "seconds": round(landing.wall_s, 3),
                "peak_rss_gib": round(landing.peak_rss_bytes / GIB, 3),
            }
            floor = postgres_floor(pg_main)
        else:
            floor = duckdb_floor(raw, work / "floor.duckdb")
            (work / "floor.duckdb").unlink()
        result["floor"] = floor
        log(f"[bench] floor {floor['seconds']:.1f} s")

        dbt = Dbt(work, target, raw, pg_main)
        full, full_results = dbt.run("full_build", BUILD_ARGS)
        model_times = node_times(full_results)
        result["full_build"] = {
            "wall_s": round(full.wall_s, 3),
            "dbt_elapsed_s": round(float(full_results.get("elapsed_time", 0.0)), 3),
            "models": len(model_times),
            "sum_model_s": round(sum(model_times.values()), 3),
            "peak_rss_gib": round(full.peak_rss_bytes / GIB, 3),
            "model_times": dict(sorted(model_times.items(), key=lambda kv: -kv[1])),
            "statuses": statuses(full_results),
        }
        log(f"[bench] full build {full.wall_s:.1f} s ({len(model_times)} models)")

        test, test_results = dbt.run("tests", ["test"], check=False)
        result["tests"] = {
            "wall_s": round(test.wall_s, 3),
            "peak_rss_gib": round(test.peak_rss_bytes / GIB, 3),
            "count": len(test_results.get("results", [])),
            "statuses": statuses(test_results),
            "exit_code": test.returncode,
        }
        log(f"[bench] tests {test.wall_s:.1f} s {result['tests']['statuses']}")

        if target == "postgres":
            # A day passes between two nightly builds, and autovacuum uses it: it vacuums
            # every table the full build wrote (PostgreSQL 13+ vacuums insert-only tables
            # too). Run it here, timed on its own, so that it does not run during the
            # second build (where it competed for the cores, and each COMMENT ON waited
            # deadlock_timeout, 1 s, before cancelling it).
            vacuum_start = time.perf_counter()
            _pg_admin("vacuum", pg_main)
            result["maintenance"] = {"vacuum_s": round(time.perf_counter() - vacuum_start, 3)}
            log(f"[bench] vacuum between the builds {result['maintenance']['vacuum_s']:.1f} s")

        add_new_day(raw, new_day)
        if target == "postgres":
            landing2 = _check("load_new_day", _lpa_load(work, new_day, pg_main, "load_new_day"))
            result["landing"]["new_day_seconds"] = round(landing2.wall_s, 3)
            result["batch_floor"] = postgres_batch_floor(pg_main, raw, new_day)
        else:
            result["batch_floor"] = duckdb_batch_floor(raw, new_day, work / "batch_floor.duckdb")
        log(f"[bench] batch floor {result['batch_floor']['seconds']:.1f} s")
        second, second_results = dbt.run("second_build", BUILD_ARGS)
        incremental_models = dbt.incremental_models()
        result["second_build"] = {
            "wall_s": round(second.wall_s, 3),
            "dbt_elapsed_s": round(float(second_results.get("elapsed_time", 0.0)), 3),
            "sum_model_s": round(sum(node_times(second_results).values()), 3),
            "peak_rss_gib": round(second.peak_rss_bytes / GIB, 3),
            "model_times": dict(sorted(node_times(second_results).items(), key=lambda kv: -kv[1])),
            "incremental_models": incremental_models,
            "batch": batch_scope(work / "warehouse.duckdb" if target == "duckdb" else pg_main),
            "note": (
                "incremental models: not implemented yet (every model is a table), so the "
                "second build is a full rebuild"
                if incremental_models == 0
                else f"{incremental_models} incremental models; the rest rebuilt as tables"
            ),
        }
        log(f"[bench] second build (+1 day) {second.wall_s:.1f} s")

        heavy_rows = min(max(events // 5, 20_000), 2_000_000)
        for key, window in (
            ("funnel", FUNNEL_WINDOW_SECONDS),
            ("funnel_short_window", FUNNEL_SHORT_WINDOW_SECONDS),
        ):
            result[key] = funnel_benchmark(work, target, heavy_rows, pg_heavy[window], window)
            f = result[key]
            log(
                f"[bench] funnel ({window // 86400}-day window) {f['model_seconds']:.2f} s "
                f"vs self-join {f['self_join_seconds']:.2f} s"
            )

        result["peak_memory_gib"] = max(
            result["full_build"]["peak_rss_gib"],
            result["second_build"]["peak_rss_gib"],
            result["tests"]["peak_rss_gib"],
        )
        result["ratios"] = ratios(result)
        result["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        result["machine"]["load_average_at_end"] = list(os.getloadavg())
        result["total_s"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1)
    finally:
        if pg_main and not keep:
            for params in (pg_main, *pg_heavy.values()):
                _pg_admin(f'drop database if exists "{params["dbname"]}" with (force)')
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    json_path, md_path = write_results(result, Path(out))
    result["files"] = [str(json_path), str(md_path)]
    return result


def _lpa_load(work: Path, raw: Path, params: dict, step: str, replace: bool = True) -> Measured:
    cmd = [sys.executable, "-m", "llm_product_analytics", "load", "--raw-dir", str(raw)]
    if replace:
        cmd.append("--replace")
    env = {**os.environ, **pg_env(params)}
    return run_measured(cmd, env, work / f"{step}.log", project_dir())


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def ratios(r: dict) -> dict:
    full = r["full_build"]["wall_s"]
    floor = r["floor"]["seconds"]
    f = r["funnel"]
    full_vs_floor = full / floor if floor else None
    second_vs_full = r["second_build"]["wall_s"] / full if full else None
    batch_floor = r["batch_floor"]["seconds"]
    speedup = f["speedup"]
    peak = r["peak_memory_gib"]
    memory_applies = r["events_requested"] >= PEAK_MEMORY_TARGET_EVENTS
    return {
        "full_vs_floor": {
            "value": round(full_vs_floor, 2) if full_vs_floor else None,
            "target": f"<= {TARGETS['full_vs_floor_max']:g}x",
            "status": _status(
                full_vs_floor is not None and full_vs_floor <= TARGETS["full_vs_floor_max"]
            ),
        },
        "second_vs_full": {
            "value": round(second_vs_full, 3) if second_vs_full else None,
            "target": f"<= {TARGETS['second_vs_full_max']:.0%}",
            "status": _status(
                second_vs_full is not None and second_vs_full <= TARGETS["second_vs_full_max"]
            ),
            "note": r["second_build"]["note"],
        },
        # Reported, no target: how far the second build is from what it must read at least.
        "batch_floor_vs_full": {
            "value": round(batch_floor / full, 3) if full else None,
            "target": "",
            "status": "",
        },
        "second_vs_batch_floor": {
            "value": round(r["second_build"]["wall_s"] / batch_floor, 2) if batch_floor else None,
            "target": "",
            "status": "",
        },
        "funnel_speedup": {
            "value": speedup,
            "target": f">= {TARGETS['funnel_speedup_min']:g}x",
            # A timed-out self-join makes the speedup a lower bound.
            "status": _status(
                speedup is not None
                and speedup >= TARGETS["funnel_speedup_min"]
                and (f["counts_equal"] or f["self_join_timed_out"])
            ),
        },
        "peak_memory_gib": {
            "value": peak,
            "target": f"<= {TARGETS['peak_memory_gib_max']:g} GiB at 10M events",
            "status": _status(peak <= TARGETS["peak_memory_gib_max"]),
            "applies": memory_applies,
        },
    }


# ---------------------------------------------------------------- output


def summary_rows(r: dict) -> list[tuple[str, str, str, str]]:
    d, fl, fb, tb, sb, f, q = (
        r["data"],
        r["floor"],
        r["full_build"],
        r["tests"],
        r["second_build"],
        r["funnel"],
        r["ratios"],
    )
    bs = sb["batch"]
    rows = [
        (
            "data",
            f"{d['raw_records']:,} raw records ({d['amplitude_lines']:,} Amplitude lines, "
            f"{d['dify_rows']:,} Dify rows), {d['users']:,} users, {d['days_full']}+1 days, "
            f"{d['raw_bytes'] / 1e6:,.0f} MB",
            "",
            "",
        ),
        (
            "generator",
            f"{d['generate_s']:.0f} s, peak {d['generate_peak_rss_gib']:.2f} GiB",
            "",
            "",
        ),
    ]
    if "landing" in r:
        rows.append(("landing (lpa load)", f"{r['landing']['seconds']:.1f} s", "", ""))
    if "maintenance" in r:
        rows.append(
            (
                "VACUUM between the builds (autovacuum's work; in neither build)",
                f"{r['maintenance']['vacuum_s']:.1f} s",
                "",
                "",
            )
        )
    rows += [
        ("floor (read raw, write table)", f"{fl['seconds']:.2f} s", "", ""),
        (
            "full build (seeds + models)",
            f"{fb['wall_s']:.1f} s wall, {fb['models']} models, dbt elapsed "
            f"{fb['dbt_elapsed_s']:.1f} s; {q['full_vs_floor']['value']}x floor",
            q["full_vs_floor"]["target"],
            q["full_vs_floor"]["status"],
        ),
        (
            "tests (dbt test)",
            f"{tb['wall_s']:.1f} s, {tb['count']} tests {tb['statuses']}",
            "",
            "",
        ),
        (
            "batch floor (the new day's Amplitude files and every Dify snapshot, read and "
            "written; reported, no target)",
            f"{r['batch_floor']['seconds']:.2f} s = {q['batch_floor_vs_full']['value']:.1%} of "
            f"the full build; the second build took {q['second_vs_batch_floor']['value']}x it",
            "",
            "",
        ),
        (
            "second build (+1 day)",
            f"{sb['wall_s']:.1f} s = {q['second_vs_full']['value']:.0%} of full; "
            f"{sb['incremental_models']} incremental models; the batch recomputed the "
            f"{bs['window_events']:,} events of its window ({bs['window_days']} of "
            f"{bs['days_total']} days, lookback_days {d['lookback_days']}), of which "
            f"int_events__unioned wrote {bs['union_written']:,} (new or different), and "
            f"rewrote {bs['events_rewritten']:,} rows of fct_events = {bs['event_share']:.0%} "
            f"(with late logins and the sessions they reach, back to "
            f"{bs['earliest_changed_date']}); {bs['events_moved']:,} came out different, "
            f"touching the history of {bs['person_share']:.0%} of persons",
            q["second_vs_full"]["target"],
            q["second_vs_full"]["status"],
        ),
        _funnel_row(
            "funnel on heavy users", f, q["funnel_speedup"]["target"], q["funnel_speedup"]["status"]
        ),
        _funnel_row("funnel, 1-day window (reported, no target)", r["funnel_short_window"], "", ""),
        (
            "peak memory (dbt process)",
            f"{r['peak_memory_gib']:.2f} GiB ("
            + (
                f"memory_limit {r['engine_settings']['memory_limit']}, "
                if r["target"] == "duckdb"
                else "server memory not included, "
            )
            + f"threads {r['engine_settings']['threads']})",
            q["peak_memory_gib"]["target"],
            q["peak_memory_gib"]["status"]
            + ("" if q["peak_memory_gib"]["applies"] else " (below 10M: indicative)"),
        ),
    ]
    return rows


def _funnel_row(label: str, f: dict, target: str, status: str) -> tuple[str, str, str, str]:
    return (
        label,
        f"{f['window_seconds'] // 86400}-day window: models {f['model_seconds']:.2f} s vs "
        f"self-join {'>' if f['self_join_timed_out'] else ''}{f['self_join_seconds']:.2f} s = "
        f"{f['speedup']}x; {f['rows']:,} events, {f['persons']:,} persons; "
        f"persons per step equal: {f['counts_equal']}",
        target,
        status,
    )


def machine_line(r: dict) -> str:
    m = r["machine"]
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
    return (
        f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}, {v}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}"
    )


def render_text(r: dict) -> str:
    rows = summary_rows(r)
    head = ("measurement", "value", "target", "result")
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(4)]
    widths[1] = min(widths[1], 110)
    lines = [f"lpa bench: {r['target']}, {r['events_requested']:,} events requested"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    lines.append("")
    lines.append("slowest models (full build, s):")
    for name, secs in list(r["full_build"]["model_times"].items())[:10]:
        lines.append(f"  {secs:8.2f}  {name}")
    lines.append(f"second build: {r['second_build']['note']}")
    lines.append(f"machine: {machine_line(r)}")
    return "\n".join(lines)


def render_markdown(r: dict) -> str:
    out = [
        f"# lpa bench: {r['target']}, {r['events_requested']:,} events",
        "",
        f"Run {r['started_at']} ({r['total_s']} s in all). Machine: {machine_line(r)}.",
        "",
        "| measurement | value | target | result |",
        "|---|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows(r)]
    out += ["", "Slowest models in the full build:", "", "| model | seconds |", "|---|---|"]
    out += [
        f"| {name} | {secs:.2f} |"
        for name, secs in list(r["full_build"]["model_times"].items())[:10]
    ]
    out += [
        "",
        f"Second build: {r['second_build']['note']}.",
        f"Floor: {r['floor']['method']}.",
        f"Batch floor: {r['batch_floor']['method']}.",
        "Peak memory: the kernel's peak RSS (wait4 ru_maxrss) of each dbt process; DuckDB runs "
        "inside it.",
        "",
    ]
    return "\n".join(out)


def write_results(r: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = r["started_at"].replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    base = out / f"{stamp}_{r['target']}_{r['events_requested']}"
    json_path = base.with_suffix(".json")
    md_path = base.with_suffix(".md")
    json_path.write_text(json.dumps(r, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(r))
    return json_path, md_path
