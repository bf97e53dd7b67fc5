"""Read-only access to the built warehouse for the export commands.

`connect("duckdb")` opens the dbt DuckDB file read-only (path: argument, else `LPA_DUCKDB_PATH`,
else `data/warehouse.duckdb`, the same default as the dbt profile); `connect("postgres")` opens
PostgreSQL from the standard libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
...), so no credential is ever passed on the command line or written in code.

Relations are schema-qualified the same way on both targets (`marts.<table>`,
`staging.<table>`: see macros/generate_schema_name.sql). SQL given to `query` uses `?`
placeholders on both targets; they are translated to psycopg2's `%s` for PostgreSQL.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
TARGETS = ("duckdb", "postgres")


class WarehouseError(RuntimeError):
    """The warehouse cannot be opened or queried (message is meant for the user)."""


def _qmark_to_pyformat(sql: str) -> str:
    """Turn `?` placeholders outside quoted text into `%s` and escape literal `%` as `%%`."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote:
            if char == quote:
                quote = None
            out.append("%%" if char == "%" else char)
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


def _plain(value: Any) -> Any:
    """Database values as plain Python: Decimal -> float, NaN and infinities -> None (JSON-safe)."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Warehouse:
    """A small read-only query interface over a DB-API connection."""

    def __init__(self, target: str, connection: Any, description: str) -> None:
        self.target = target
        self.description = description
        self._connection = connection

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run `sql` (`?` placeholders) and return the rows as dicts keyed by column name."""
        params = list(params or [])
        try:
            if self.target == "postgres":
                with self._connection.cursor() as cur:
                    if params:
                        cur.execute(_qmark_to_pyformat(sql), params)
                    else:
                        cur.execute(sql)
                    columns = [col[0] for col in cur.description]
                    rows = cur.fetchall()
            else:
                cur = self._connection.execute(sql, params)
                columns = [col[0] for col in cur.description]
                rows = cur.fetchall()
        except Exception as exc:  # driver-specific error classes
            raise WarehouseError(f"query failed on {self.description}: {exc}") from exc
        return [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# psycopg2 connection keywords <-> the libpq environment variables every tool here reads.
PG_ENV_VARS = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
}
PG_DEFAULTS = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "password": ""}


def pg_params_from_env(dbname: str | None = None) -> dict[str, str]:
    """psycopg2 keywords from the PG* variables (defaults: local server, user postgres,
    database postgres); `dbname` overrides PGDATABASE."""
    params = {k: os.environ.get(v, PG_DEFAULTS.get(k, "")) for k, v in PG_ENV_VARS.items()}
    params["dbname"] = dbname or os.environ.get("PGDATABASE", "postgres")
    return params


def pg_env(params: dict) -> dict[str, str]:
    """The PG* variables that point a child process (dbt, lpa, mf) at `params`."""
    return {var: str(params.get(key, "")) for key, var in PG_ENV_VARS.items()}


def connect(target: str = "duckdb", duckdb_path: str | Path | None = None) -> Warehouse:
    """Open the warehouse of `target` ('duckdb' or 'postgres') read-only."""
    if target == "duckdb":
        import duckdb

        path = str(duckdb_path or os.environ.get("LPA_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH)
        if path != ":memory:" and not Path(path).is_file():
            raise WarehouseError(f"DuckDB file {path} does not exist (run `dbt build` first)")
        try:
            con = duckdb.connect(path, read_only=path != ":memory:")
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open DuckDB file {path}: {exc}") from exc
        return Warehouse("duckdb", con, f"DuckDB {path}")
    if target == "postgres":
        import psycopg2

        try:
            # No arguments: libpq reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...
            con = psycopg2.connect("")
        except psycopg2.OperationalError as exc:
            raise WarehouseError(f"cannot connect to PostgreSQL: {str(exc).strip()}") from exc
        con.set_session(readonly=True, autocommit=True)
        name = os.environ.get("PGDATABASE", "(default database)")
        return Warehouse("postgres", con, f"PostgreSQL {name}")
    raise WarehouseError(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")
