"""PostgreSQL statistics functions (macros/cross_db/stats_functions.sql) against scipy.

The SQL twin of the experiment results model computes p-values and quantiles with these
PL/pgSQL functions on PostgreSQL, while DuckDB uses scipy: both must agree to 1e-9 relative,
tails included, and bad input must give null, never an error.

Where scipy itself is off, the reference is a closed form: gammaln near its roots (1e-7
relative at x = 1 - 1e-9) and Student t within ~1e-3 of the centre (t.sf(1e-8, 1) is off by
1.6e-9; t.ppf near p = 0.5 by up to 40 %).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from scipy import special, stats

from conftest import create_database, drop_database
from dbt_harness import run_dbt

REL_TOL = 1e-9
ABS_FLOOR = 1e-300
HOOK_SQL = "{{ lpa_create_stats_udfs() }}"

PUBLIC_FUNCTIONS = [
    "lpa_ln_gamma",
    "lpa_gamma_p",
    "lpa_gamma_q",
    "lpa_betai",
    "lpa_norm_sf",
    "lpa_norm_cdf",
    "lpa_norm_ppf",
    "lpa_t_sf",
    "lpa_t_ppf",
    "lpa_chi2_sf",
]


def _compile_hook(target: str, work_dir: Path, pg_params: dict | None = None) -> str:
    """The hook's SQL as dbt renders it for target (compile runs no hooks itself)."""
    raw = work_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    result = run_dbt(
        ["compile", "--quiet", "--inline", HOOK_SQL],
        target=target,
        raw_path=raw,
        work_dir=work_dir,
        pg_params=pg_params,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def stats_conn(
    postgres_available: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[psycopg2.extensions.connection]:
    """A new database holding the functions, created from the rendered hook. dbt-postgres
    runs a hook as one multi-statement string through psycopg2, and so does this."""
    name = f"lpa_stats_{uuid.uuid4().hex[:10]}"
    create_database(postgres_available, name)
    params = {**postgres_available, "dbname": name}
    conn = None
    try:
        ddl = _compile_hook("postgres", tmp_path_factory.mktemp("pg_stats"), params)
        assert "create or replace function" in ddl
        conn = psycopg2.connect(**params)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(ddl)
        yield conn
    finally:
        if conn is not None:
            conn.close()
        drop_database(postgres_available, name)


def evaluate(conn, function: str, rows: list[tuple]) -> list[float | None]:
    """function(*row) for every row, in one query, in row order."""
    width = len(rows[0])
    columns = ", ".join(f"c{i}" for i in range(width))
    placeholders = "(" + ", ".join(["%s::double precision"] * width) + ", %s)"
    with conn.cursor() as cur:
        values = ", ".join(
            cur.mogrify(placeholders, (*row, i)).decode() for i, row in enumerate(rows)
        )
        cur.execute(
            f"select public.{function}({columns}) from (values {values}) v({columns}, i) order by i"
        )
        return [r[0] for r in cur.fetchall()]


def max_rel_error(got: list[float | None], want: list[float]) -> float:
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        if g is None:
            return math.inf
        if g != w:
            worst = max(worst, abs(g - w) / max(abs(w), ABS_FLOOR))
    return worst


def assert_matches(conn, function: str, rows: list[tuple], want: list[float]) -> None:
    """Relative error <= REL_TOL (absolute floor ABS_FLOOR) on every row."""
    got = evaluate(conn, function, rows)
    bad = [
        (row, g, w)
        for row, g, w in zip(rows, got, want, strict=True)
        if g is None or abs(g - w) > max(REL_TOL * abs(w), ABS_FLOOR)
    ]
    assert not bad, (
        f"{function}: {len(bad)} of {len(rows)} off (args, got, want), max relative error "
        f"{max_rel_error(got, want):.3g}: {bad[:8]}"
    )


def _reference_grid(rows: list[tuple], reference) -> tuple[list[tuple], list[float]]:
    """rows with their scipy values, leaving out results below the smallest normal double."""
    kept = [(row, float(reference(*row))) for row in rows]
    kept = [(row, value) for row, value in kept if value == 0 or abs(value) > 1e-300]
    return [row for row, _ in kept], [value for _, value in kept]


# ---------------------------------------------------------------- DuckDB: no-op


def test_hook_is_a_no_op_on_duckdb(tmp_path: Path) -> None:
    assert _compile_hook("duckdb", tmp_path) == "select 1"


# ---------------------------------------------------------------- PostgreSQL: the real hook


def test_on_run_start_creates_the_functions(fresh_database: dict, tmp_path: Path) -> None:
    """`dbt seed` (the cheapest command that runs on-run-start) creates them for real."""
    raw = tmp_path / "raw"
    raw.mkdir()
    run_dbt(["seed"], target="postgres", raw_path=raw, work_dir=tmp_path, pg_params=fresh_database)
    conn = psycopg2.connect(**fresh_database)
    try:
        with conn.cursor() as cur:
            cur.execute("select public.lpa_t_sf(2, 10), public.lpa_chi2_sf(200, 1)")
            t_sf, chi2_sf = cur.fetchone()
    finally:
        conn.close()
    assert t_sf == pytest.approx(stats.t.sf(2, 10), rel=REL_TOL)
    assert chi2_sf == pytest.approx(stats.chi2.sf(200, 1), rel=REL_TOL)


def test_function_attributes(stats_conn) -> None:
    with stats_conn.cursor() as cur:
        cur.execute(
            """
            select p.proname, l.lanname, p.provolatile, p.proisstrict, p.proparallel,
                format_type(p.prorettype, null)
            from pg_proc as p
            join pg_namespace as n on n.oid = p.pronamespace
            join pg_language as l on l.oid = p.prolang
            where n.nspname = 'public' and p.proname like 'lpa\\_%'
            """
        )
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    assert set(PUBLIC_FUNCTIONS) <= set(rows)
    for name, attributes in rows.items():
        assert attributes == ("plpgsql", "i", True, "s", "double precision"), name


# ---------------------------------------------------------------- accuracy against scipy


def test_ln_gamma(stats_conn) -> None:
    xs = [1e-300, 1e-100, 1e-10, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9]
    xs += [2.1, 2.4999, 2.5, 2.50001, 3, 4.2, 7.5, 10, 33.3, 100, 1234.5, 1e5, 1e7, 1e12, 1e100]
    assert_matches(stats_conn, "lpa_ln_gamma", [(x,) for x in xs], special.gammaln(xs).tolist())


def test_ln_gamma_near_its_roots(stats_conn) -> None:
    """scipy (and libm) lose relative precision next to 1 and 2: use the Taylor series,
    ln gamma(1 + z) = -euler z + zeta(2) z^2 / 2 - zeta(3) z^3 / 3 + O(z^4)."""
    euler, zeta2, zeta3 = 0.5772156649015329, math.pi**2 / 6, 1.2020569031595942
    rows, want = [], []
    for root in (1.0, 2.0):
        for offset in (-1e-6, -1e-9, -1e-12, 0.0, 1e-12, 1e-9, 1e-6):
            x = root + offset
            z = x - root  # exact: the offset that x really has
            value = -euler * z + zeta2 * z**2 / 2 - zeta3 * z**3 / 3
            if root == 2.0:
                value += math.log1p(z)  # ln gamma(2 + z) = ln gamma(1 + z) + ln(1 + z)
            rows.append((x,))
            want.append(value)
    assert_matches(stats_conn, "lpa_ln_gamma", rows, want)


def test_gamma_q_and_p(stats_conn) -> None:
    a_s = [0.01, 0.5, 1, 1.5, 2.5, 10, 28.5, 100, 500]
    x_s = [1e-10, 0.01, 0.5, 1, 1.5, 2, 5, 10, 28, 30, 50, 100, 200, 500, 700]
    grid = [(a, x) for a in a_s for x in x_s]
    assert_matches(stats_conn, "lpa_gamma_q", *_reference_grid(grid, special.gammaincc))
    assert_matches(stats_conn, "lpa_gamma_p", *_reference_grid(grid, special.gammainc))


def test_norm_sf_and_cdf(stats_conn) -> None:
    zs = [-37, -30, -10, -5, -3, -1.96, -1, -0.5, -1e-5, -1e-12, 0, 1e-12, 1e-5, 0.1, 0.5, 1]
    zs += [1.5, 1.7320508, 1.96, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 35, 37]
    rows = [(z,) for z in zs]
    assert_matches(stats_conn, "lpa_norm_sf", rows, stats.norm.sf(zs).tolist())
    assert_matches(stats_conn, "lpa_norm_cdf", rows, stats.norm.cdf(zs).tolist())
    assert evaluate(stats_conn, "lpa_norm_sf", [(10,)])[0] == pytest.approx(7.6198530241605e-24)


def test_norm_ppf(stats_conn) -> None:
    ps = [1e-300, 1e-200, 1e-100, 1e-20, 1e-12, 1e-6, 1e-3, 0.01, 0.02425, 0.025, 0.05, 0.1]
    ps += [0.2, 0.25, 0.3, 0.4, 0.4999999, 0.5 - 2**-54, 0.5, 0.5 + 2**-53, 0.5000001, 0.6]
    ps += [0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-6, 1 - 1e-10, 1 - 2**-53]
    ps += [i / 97 for i in range(1, 97)]
    assert_matches(stats_conn, "lpa_norm_ppf", [(p,) for p in ps], stats.norm.ppf(ps).tolist())


def test_betai(stats_conn) -> None:
    shapes = [(0.5, 0.5), (1, 1), (2, 3), (0.5, 5), (5, 0.5), (10, 20), (50, 50), (0.1, 100)]
    shapes += [(100, 0.1), (3.5, 1e6), (5e5, 0.5), (200, 300), (20, 0.5), (0.5, 20)]
    xs = [1e-250, 1e-10, 1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.9999, 1 - 1e-10]
    grid = [(a, b, x) for a, b in shapes for x in xs] + [(2, 3, 0), (2, 3, 1)]
    assert_matches(stats_conn, "lpa_betai", *_reference_grid(grid, special.betainc))


T_DFS = [1, 2, 2.5, 3, 7.3, 10, 30, 100, 1000, 1e6, 1e7]


def test_t_sf(stats_conn) -> None:
    ts = [-40, -10, -3, -2, -1, -0.1, -1e-3, 0, 1e-3, 0.1, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7]
    ts += [10, 20, 40, 100, 1e4, 1e10]
    grid = [(t, df) for df in T_DFS for t in ts]
    assert_matches(stats_conn, "lpa_t_sf", *_reference_grid(grid, stats.t.sf))


def test_t_sf_closed_forms(stats_conn) -> None:
    """df = 1 is Cauchy, sf = atan2(1, t) / pi, also where scipy is off (near t = 0)."""
    ts = [-1e10, -1e-8, -1e-15, 1e-15, 1e-8, 1e-4, 1e20, 1e150, 1e200]
    want = [math.atan2(1.0, t) / math.pi for t in ts]
    assert_matches(stats_conn, "lpa_t_sf", [(t, 1) for t in ts], want)


def test_t_ppf(stats_conn) -> None:
    ps = [1e-12, 1e-6, 1e-3, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.45, 0.499, 0.5]
    ps += [0.501, 0.55, 0.7, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-6, 1 - 1e-9]
    grid = [(p, df) for df in T_DFS for p in ps]
    rows, want = _reference_grid(grid, stats.t.ppf)
    # far tails: scipy is exact for integer df, saturates near 1e154 for others
    for df in (1, 2, 3, 10, 1e6):
        rows += [(1e-300, df), (1e-100, df), (1 - 2**-53, df)]
        want += [float(stats.t.ppf(p, df)) for p in (1e-300, 1e-100, 1 - 2**-53)]
    assert_matches(stats_conn, "lpa_t_ppf", rows, want)


def test_t_ppf_closed_forms(stats_conn) -> None:
    """df = 1: tan(pi (p - 1/2)); df = 2: (2p - 1) / sqrt(2 p (1 - p)), also near p = 1/2."""
    ps = [1e-300, 1e-20, 0.3, 0.5 - 2**-54, 0.4999999, 0.5000001, 0.5 + 2**-53, 0.9]
    rows = [(p, 1) for p in ps] + [(p, 2) for p in ps]
    want = [-1 / math.tan(math.pi * p) if p < 0.01 else math.tan(math.pi * (p - 0.5)) for p in ps]
    want += [(2 * p - 1) / math.sqrt(2 * p * (1 - p)) for p in ps]
    assert_matches(stats_conn, "lpa_t_ppf", rows, want)


def test_t_ppf_inverts_t_sf(stats_conn) -> None:
    """sf(-ppf(p)) = p; the tolerance is the conditioning d ln sf / d ln t (about t^2)."""
    grid = [(p, df) for df in T_DFS for p in (1e-200, 1e-50, 1e-9, 0.01, 0.3, 0.7, 0.99)]
    quantiles = evaluate(stats_conn, "lpa_t_ppf", grid)
    back = evaluate(
        stats_conn, "lpa_t_sf", [(-q, df) for q, (_, df) in zip(quantiles, grid, strict=True)]
    )
    for (p, df), q, b in zip(grid, quantiles, back, strict=True):
        assert b == pytest.approx(p, rel=1e-13 * max(1.0, q * q)), (p, df, q)


def test_chi2_sf(stats_conn) -> None:
    xs = [1e-8, 0.1, 1, 2, 3.84, 10, 30, 50, 57, 80, 100, 200, 500, 1000]
    grid = [(x, df) for df in (1, 2, 3, 10, 57) for x in xs] + [(0, 3), (-1, 3)]
    assert_matches(stats_conn, "lpa_chi2_sf", *_reference_grid(grid, stats.chi2.sf))
    # the far tail keeps its relative precision (never 1 - cdf)
    assert evaluate(stats_conn, "lpa_chi2_sf", [(200, 1)])[0] == pytest.approx(
        2.0884875837625e-45, rel=1e-12
    )


# ---------------------------------------------------------------- invalid input


NAN, INF = float("nan"), float("inf")
INVALID = {
    "lpa_ln_gamma": [(0,), (-1,), (None,), (NAN,)],
    "lpa_gamma_p": [(0, 1), (-1, 1), (1, -1), (None, 1), (1, None), (NAN, 1)],
    "lpa_gamma_q": [(0, 1), (-1, 1), (1, -1), (None, 1), (1, None), (1, NAN)],
    "lpa_betai": [(0, 1, 0.5), (1, -1, 0.5), (1, 1, -0.1), (1, 1, 1.1), (1, 1, None)],
    "lpa_norm_sf": [(None,), (NAN,)],
    "lpa_norm_cdf": [(None,), (NAN,)],
    "lpa_norm_ppf": [(0,), (1,), (-0.1,), (1.5,), (None,), (NAN,), (INF,)],
    "lpa_t_sf": [(1, 0), (1, -3), (None, 5), (1, None), (NAN, 5), (1, NAN)],
    "lpa_t_ppf": [(0, 5), (1, 5), (0.5, 0), (0.3, -1), (None, 5), (0.3, None), (NAN, 5)],
    "lpa_chi2_sf": [(1, 0), (1, -1), (None, 3), (1, None), (NAN, 3)],
}


@pytest.mark.parametrize("function", sorted(INVALID))
def test_invalid_input_is_null(stats_conn, function: str) -> None:
    assert evaluate(stats_conn, function, INVALID[function]) == [None] * len(INVALID[function])


ARITY = {
    "lpa_ln_gamma": 1,
    "lpa_gamma_p": 2,
    "lpa_gamma_q": 2,
    "lpa_betai": 3,
    "lpa_norm_sf": 1,
    "lpa_norm_cdf": 1,
    "lpa_norm_ppf": 1,
    "lpa_t_sf": 2,
    "lpa_t_ppf": 2,
    "lpa_chi2_sf": 2,
}
EXTREMES = [0.0, 5e-324, 1e-320, 1e-300, 1e-10, 0.5, 1.0, 2.0, 1e20, 1e300, 1.7e308, INF, NAN]


@pytest.mark.parametrize("function", sorted(ARITY))
def test_never_raises(stats_conn, function: str) -> None:
    """PostgreSQL raises on float underflow and overflow where C returns 0 or inf: extreme
    and random arguments of any magnitude must give a value or null, never an error, and
    probabilities stay in [0, 1]."""
    rng = random.Random(20240611)

    def argument() -> float:
        if rng.random() < 0.3:
            return rng.choice(EXTREMES) * rng.choice([1, 1, -1])
        if rng.random() < 0.3:
            return rng.random()
        return rng.choice([1, 1, -1]) * 10 ** rng.uniform(-320, 308)

    rows = [tuple(argument() for _ in range(ARITY[function])) for _ in range(600)]
    values = evaluate(stats_conn, function, rows)
    if function not in {"lpa_ln_gamma", "lpa_norm_ppf", "lpa_t_ppf"}:
        outside = [
            (r, v) for r, v in zip(rows, values, strict=True) if v is not None and not 0 <= v <= 1
        ]
        assert not outside, outside[:5]
