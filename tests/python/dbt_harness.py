"""Run the dbt project from tests, on DuckDB or PostgreSQL, and read its tables back.

dbt runs as a subprocess (one clean process per build, like a user's CLI call), with its own
target/log folders per warehouse so DuckDB and PostgreSQL runs never share parse state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import math
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pytest

from llm_product_analytics.load import load
from llm_product_analytics.warehouse import pg_env

from conftest import create_database, drop_database

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def make_profiles_dir(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "profiles.example.yml", where / "profiles.yml")
    return where


def run_dbt(
    args: list[str],
    *,
    target: str,
    raw_path: Path,
    work_dir: Path,
    duckdb_path: Path | None = None,
    pg_params: dict[str, str] | None = None,
    extra_vars: dict | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """`dbt <args> --target <target>` against the raw files in raw_path."""
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(make_profiles_dir(work_dir / "profiles")),
        "DO_NOT_TRACK": "1",
        "LPA_DUCKDB_PATH": str(duckdb_path or work_dir / "warehouse.duckdb"),
    }
    if pg_params:
        env.update(pg_env(pg_params))
    dbt_vars = {"raw_data_path": str(raw_path), **(extra_vars or {})}
    cmd = [
        str(BIN / "dbt"),
        *args,
        "--target",
        target,
        "--vars",
        json.dumps(dbt_vars),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-6000:]}"
            f"\n{result.stderr[-2000:]}"
        )
    return result


def build_duckdb(
    raw_path: Path,
    work_dir: Path,
    dbt_args: list[str] | None = None,
    extra_vars: dict | None = None,
) -> Path:
    """Build the project on a new DuckDB file over raw_path; returns the file."""
    run_dbt(
        dbt_args or ["build"],
        target="duckdb",
        raw_path=raw_path,
        work_dir=work_dir,
        extra_vars=extra_vars,
    )
    return work_dir / "warehouse.duckdb"


@contextlib.contextmanager
def postgres_warehouse(
    server: dict[str, str],
    raw_path: Path,
    work_dir: Path,
    dbt_args: list[str] | None = None,
    extra_vars: dict | None = None,
) -> Iterator[dict[str, str]]:
    """A fresh database on the test server: raw_path landed by `lpa load`, the project built
    on it; yields its connection parameters and drops it afterwards."""
    name = f"lpa_{work_dir.name}_{uuid.uuid4().hex[:8]}".lower()
    create_database(server, name)
    params = {**server, "dbname": name}
    try:
        load(raw_dir=raw_path, conn_params=params)
        run_dbt(
            dbt_args or ["build"],
            target="postgres",
            raw_path=raw_path,
            work_dir=work_dir,
            pg_params=params,
            extra_vars=extra_vars,
        )
        yield params
    finally:
        drop_database(server, name)


# ---------------------------------------------------------------- reading tables back


# The log of finished builds (on-run-end, not a model): its times differ between any two
# warehouses by design.
BUILD_LOG_TABLE = "lpa_build_log"


def duckdb_tables(path: Path, schema: str) -> list[str]:
    """The schema's models (build bookkeeping left out)."""
    con = duckdb.connect(str(path))
    try:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = ?"
            " order by table_name",
            [schema],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows if r[0] != BUILD_LOG_TABLE]


def query_duckdb(path: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(path))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        types = [str(d[1]) for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    json_columns = {n for n, t in zip(names, types, strict=True) if t.upper() == "JSON"}
    return [
        {
            n: (json.loads(v) if n in json_columns and v is not None else v)
            for n, v in zip(names, row, strict=True)
        }
        for row in rows
    ]


def query_postgres(params: dict[str, str], sql: str) -> list[dict]:
    conn = psycopg2.connect(**params)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
    finally:
        conn.close()
    return [dict(zip(names, row, strict=True)) for row in rows]


# ---------------------------------------------------------------- comparing adapters

# Differs between warehouses by design: file mtime on DuckDB, load time on PostgreSQL; the
# start of the build that staged the row.
ADAPTER_SPECIFIC_COLUMNS = {"loaded_at", "staged_at"}
# JSON rendered as text by each engine's own serialiser: compare parsed.
JSON_TEXT_COLUMNS = {"raw_record", "rejected_record", "properties"}


def normalise(column: str, value: object) -> object:
    if value is None:
        return None
    if column in JSON_TEXT_COLUMNS and isinstance(value, str):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        # 9 significant digits, then 9 decimals: engines sum floats in different orders, so
        # a large sum (a sum of squares, say) differs in its last bits; near-zero residues
        # of a cancellation count as 0.
        return round(float(f"{value:.9g}"), 9) if math.isfinite(value) else value
    if isinstance(value, decimal.Decimal):
        return round(float(value), 9)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def comparable_rows(rows: list[dict]) -> list[tuple]:
    out = []
    for row in rows:
        items = tuple(
            (k, normalise(k, v))
            for k, v in sorted(row.items())
            if k not in ADAPTER_SPECIFIC_COLUMNS
        )
        out.append(items)
    return sorted(out, key=repr)


# ---------------------------------------------------------------- one sample, both warehouses


def sample_warehouse_fixtures(
    prefix: str,
    sample: dict,
    build_args: list[str],
    extra_vars: dict | None = None,
    scope: str = "session",
):
    """The fixtures a mart test module needs, named `<prefix>_sample` (raw folder and ground
    truth from `generate(**sample)`), `<prefix>_duckdb` (the DuckDB file), `<prefix>_postgres`
    (connection parameters of a fresh PostgreSQL build) and `query` (a `sql -> rows` function
    parametrized over both warehouses). Assign them to module globals of those names."""
    from llm_product_analytics.generate import generate

    @pytest.fixture(scope=scope, name=f"{prefix}_sample")
    def sample_fixture(tmp_path_factory):
        raw = tmp_path_factory.mktemp(f"{prefix}_raw")
        return raw, generate(out_dir=raw, **sample)

    @pytest.fixture(scope=scope, name=f"{prefix}_duckdb")
    def duckdb_fixture(request, tmp_path_factory):
        raw = request.getfixturevalue(f"{prefix}_sample")[0]
        work = tmp_path_factory.mktemp(f"{prefix}_duckdb")
        return build_duckdb(raw, work, build_args, extra_vars=extra_vars)

    @pytest.fixture(scope=scope, name=f"{prefix}_postgres")
    def postgres_fixture(request, postgres_available, tmp_path_factory):
        raw = request.getfixturevalue(f"{prefix}_sample")[0]
        work = tmp_path_factory.mktemp(f"{prefix}_postgres")
        with postgres_warehouse(
            postgres_available, raw, work, build_args, extra_vars=extra_vars
        ) as params:
            yield params

    @pytest.fixture(params=["duckdb", "postgres"], name="query")
    def query_fixture(request):
        if request.param == "duckdb":
            path = request.getfixturevalue(f"{prefix}_duckdb")
            return lambda sql: query_duckdb(path, sql)
        params = request.getfixturevalue(f"{prefix}_postgres")
        return lambda sql: query_postgres(params, sql)

    return sample_fixture, duckdb_fixture, postgres_fixture, query_fixture
