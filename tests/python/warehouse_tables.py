"""Hand-built warehouse tables for CLI tests: the same DDL and rows on a DuckDB file or a
PostgreSQL database, written once as `create_tables(execute)` with `?` placeholders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg2

from llm_product_analytics.warehouse import _qmark_to_pyformat

CreateTables = Callable[[Callable[..., object]], None]


def create_duckdb(path: Path, create_tables: CreateTables) -> Path:
    con = duckdb.connect(str(path))
    create_tables(lambda sql, params=None: con.execute(sql, params or []))
    con.close()
    return path


def create_postgres(params: dict[str, str], create_tables: CreateTables) -> None:
    conn = psycopg2.connect(**params)
    with conn, conn.cursor() as cur:
        create_tables(
            lambda sql, args=None: cur.execute(_qmark_to_pyformat(sql), args)
            if args
            else cur.execute(sql)
        )
    conn.close()
