"""Shared pytest fixtures: PostgreSQL access and throwaway databases.

PostgreSQL is reached through the standard PG* environment variables (`make test` starts a
throwaway cluster and sets them). Without them the PostgreSQL tests are skipped locally, and
fail under CI=true: CI must never skip the PostgreSQL half.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from llm_product_analytics.warehouse import pg_params_from_env


@pytest.fixture(scope="session")
def postgres_available() -> dict[str, str]:
    """Connection parameters of the test server; skip (or fail under CI) when unreachable."""
    params = pg_params_from_env("postgres")
    try:
        psycopg2.connect(connect_timeout=5, **params).close()
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true" or "PGHOST" in os.environ:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable (set PGHOST/PGPORT or run `make test`): {exc}")
    return params


def create_database(params: dict[str, str], name: str) -> None:
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}"')
        cur.execute(f'create database "{name}"')
    conn.close()


def drop_database(params: dict[str, str], name: str) -> None:
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    conn.close()


@pytest.fixture
def fresh_database(postgres_available: dict[str, str]) -> Iterator[dict[str, str]]:
    """A new empty database for one test; yields its connection parameters."""
    name = f"lpa_test_{uuid.uuid4().hex[:10]}"
    create_database(postgres_available, name)
    yield {**postgres_available, "dbname": name}
    drop_database(postgres_available, name)
