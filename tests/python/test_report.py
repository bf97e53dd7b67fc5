"""`lpa report`: the HTML report in headless Chromium, the CSV exports, empty marts, and the
PostgreSQL path of the same code.

The sample (200 users x 21 days) is built once per session by browser.sample_build.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pytest

from llm_product_analytics.report import CSV_MARTS, build_report
from llm_product_analytics.warehouse import connect, pg_env

import browser
from conftest import create_database, drop_database
from dbt_harness import query_duckdb

LPA = Path(sys.executable).parent / "lpa"


def run_report(out: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(LPA), "report", "--out", str(out), *args], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return browser.sample_build(tmp_path_factory)


@pytest.fixture(scope="module")
def report_dir(sample: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = run_report(out, "--target", "duckdb", "--duckdb-path", str(sample["duckdb"]))
    assert f"wrote {out / 'report.html'}" in result.stdout
    return out


@pytest.fixture(scope="module")
def chromium() -> Iterator[browser.Browser]:
    yield from browser.launch()


def test_report_renders_in_chromium(
    sample: dict[str, Path], report_dir: Path, chromium: browser.Browser, tmp_path: Path
) -> None:
    db = sample["duckdb"]
    page = chromium.new_page(width=1280, height=900)
    page.goto((report_dir / "report.html").as_uri())

    assert page.console_errors == []
    # Self-contained: the page asked for nothing but itself.
    assert page.requests == [(report_dir / "report.html").as_uri()]
    assert page.non_local_requests() == []

    charts = page.evaluate(
        """Array.from(document.querySelectorAll('figure.chart')).map(f => {
            const svg = f.querySelector('svg');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return {id: f.id, marks: svg ? svg.querySelectorAll('*').length : 0,
                    width: box.width, height: box.height};
        })"""
    )
    funnels = query_duckdb(db, "select distinct funnel_name from marts.rpt_funnel_conversion")
    expected_ids = {"chart-kpi-active", "chart-kpi-queries", "chart-kpi-tokens", "chart-kpi-cost"}
    expected_ids |= {"chart-kpi-rates", "chart-retention", "chart-forest"}
    expected_ids |= {f"chart-funnel-{k}" for k in range(len(funnels))}
    assert {c["id"] for c in charts} == expected_ids
    for chart in charts:
        assert chart["marks"] > 5 and chart["width"] > 100 and chart["height"] > 100, chart
    assert page.evaluate("document.querySelectorAll('.no-data').length") == 0

    # The data range and a headline tile agree with the mart.
    kpis = query_duckdb(
        db,
        "select min(report_date) as first_day, max(report_date) as last_day,"
        " sum(query_count) as queries, count(*) as days"
        " from marts.rpt_daily_kpis where app_id = 'all'",
    )[0]
    assert kpis["days"] == 21
    range_text = page.evaluate("document.getElementById('data-range').textContent")
    assert range_text.startswith(f"Data from {kpis['first_day']} to {kpis['last_day']}")
    tiles = page.evaluate(
        """Object.fromEntries(Array.from(document.querySelectorAll('.tile')).map(
            t => [t.querySelector('.tile-label').textContent,
                  t.querySelector('.tile-value').textContent]))"""
    )
    assert tiles["Queries"] == f"{kpis['queries']:,}"
    # One point per day on each of the DAU, WAU and MAU lines.
    assert page.evaluate("document.querySelectorAll('#chart-kpi-active circle').length") == 63

    # Forest plot: one mark per result row with an interval, the dot inside its interval and
    # on the side of the zero line that the sign of the lift says.
    results = query_duckdb(
        db,
        "select result_id, relative_lift from marts.rpt_experiment_results"
        " where relative_lift_ci_lower is not null and relative_lift_ci_upper is not null",
    )
    assert len(results) >= 5
    marks = page.evaluate(
        """(() => {
            const zero = Number(document.querySelector('#chart-forest line.zero')
                .getAttribute('x1'));
            return Array.from(document.querySelectorAll('#chart-forest g.forest-mark')).map(
                g => {
                    const line = g.querySelector('line'), dot = g.querySelector('circle');
                    return {id: g.dataset.resultId, zero,
                            x1: Number(line.getAttribute('x1')),
                            x2: Number(line.getAttribute('x2')),
                            cx: Number(dot.getAttribute('cx'))};
                });
        })()"""
    )
    assert sorted(m["id"] for m in marks) == sorted(r["result_id"] for r in results)
    lifts = {r["result_id"]: r["relative_lift"] for r in results}
    for mark in marks:
        assert mark["x1"] <= mark["cx"] <= mark["x2"], mark
        assert (mark["cx"] > mark["zero"]) == (lifts[mark["id"]] > 0), mark
    undefined = query_duckdb(
        db, "select count(*) as n from marts.rpt_experiment_results where relative_lift is null"
    )[0]["n"]
    assert page.evaluate("document.querySelectorAll('#chart-forest text.undefined').length") == (
        undefined
    )

    # Funnel bars: one per step of the overall row; retention: a full cohort x period grid.
    steps = query_duckdb(
        db,
        "select count(*) as n from marts.rpt_funnel_conversion where breakdown_value = '(all)'",
    )[0]["n"]
    assert page.evaluate(
        "document.querySelectorAll('figure[id^=chart-funnel] rect.bar').length"
    ) == (steps)
    grid = query_duckdb(
        db,
        "select count(distinct cohort_start) + 1 as cohorts, count(distinct period_label)"
        " as periods from marts.rpt_retention where retention_kind = 'n_day'",
    )[0]
    assert page.evaluate("document.querySelectorAll('#chart-retention rect.cell').length") == (
        grid["cohorts"] * grid["periods"]
    )

    # Worst prompt versions: exactly the rank-1 rows with a dislike rate.
    worst = query_duckdb(
        db,
        "select count(*) as n from marts.rpt_prompt_feedback_weekly"
        " where dislike_rate_rank_in_week = 1 and dislike_rate is not null",
    )[0]["n"]
    assert worst > 0
    assert page.evaluate("document.querySelectorAll('table.worst tbody tr').length") == worst

    shot = browser.save_screenshot(page, tmp_path, "report.png")
    assert shot.stat().st_size > 20_000


def test_report_is_self_contained_and_deterministic(
    sample: dict[str, Path], report_dir: Path, tmp_path: Path
) -> None:
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    for needle in ("<script", "<link", "src=", "@import", "url(", "https://"):
        assert needle not in text, needle
    # The only absolute URL is the SVG namespace.
    assert text.count("http://") == text.count('xmlns="http://www.w3.org/2000/svg"')
    run_report(tmp_path, "--duckdb-path", str(sample["duckdb"]))
    assert (tmp_path / "report.html").read_bytes() == (report_dir / "report.html").read_bytes()
    for mart in CSV_MARTS:
        again = (tmp_path / "csv" / f"{mart}.csv").read_bytes()
        assert again == (report_dir / "csv" / f"{mart}.csv").read_bytes(), mart


def test_csv_exports_hold_every_row_and_column(sample: dict[str, Path], report_dir: Path) -> None:
    db = sample["duckdb"]
    assert sorted(p.name for p in (report_dir / "csv").iterdir()) == sorted(
        f"{m}.csv" for m in CSV_MARTS
    )
    con = duckdb.connect(str(db), read_only=True)
    try:
        for mart in CSV_MARTS:
            cur = con.execute(f"select * from marts.{mart}")
            columns = [d[0] for d in cur.description]
            count = len(cur.fetchall())
            with (report_dir / "csv" / f"{mart}.csv").open(newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            assert rows[0] == columns, mart
            assert len(rows) - 1 == count and count > 0, mart
    finally:
        con.close()
    # Values round-trip: the overall scope's DAU per day, in date order.
    with (report_dir / "csv" / "rpt_daily_kpis.csv").open(newline="", encoding="utf-8") as f:
        exported = [(r["report_date"], int(r["dau"])) for r in csv.DictReader(f)]
    expected = query_duckdb(
        db, "select report_date, dau, app_id from marts.rpt_daily_kpis order by report_date, app_id"
    )
    assert exported == [(r["report_date"].isoformat(), r["dau"]) for r in expected]


def _empty_copy(source: Path, target: Path, drop: set[str]) -> None:
    """A DuckDB file with the marts of source as empty tables, minus `drop`."""
    con = duckdb.connect(str(target))
    try:
        con.execute(f"attach '{source}' as src (read_only)")
        con.execute("create schema marts")
        for mart in CSV_MARTS:
            if mart not in drop:
                con.execute(f"create table marts.{mart} as select * from src.marts.{mart} limit 0")
    finally:
        con.close()


def test_empty_and_missing_marts_give_notes_not_charts(
    sample: dict[str, Path], chromium: browser.Browser, tmp_path: Path
) -> None:
    empty_db = tmp_path / "empty.duckdb"
    _empty_copy(sample["duckdb"], empty_db, drop={"rpt_experiment_plan"})
    with connect("duckdb", empty_db) as warehouse:
        result = build_report(warehouse, tmp_path / "out")
    assert result.missing_marts == ["rpt_experiment_plan"]
    assert result.data_range is None
    assert all(n == 0 for n in result.rows_per_csv.values())
    header = (tmp_path / "out" / "csv" / "rpt_daily_kpis.csv").read_text().splitlines()
    assert header[0].startswith("daily_kpi_id,app_id,dau,")

    page = chromium.new_page()
    page.goto((tmp_path / "out" / "report.html").as_uri())
    assert page.console_errors == []
    assert page.evaluate("document.querySelectorAll('figure.chart').length") == 0
    notes = page.evaluate(
        "Array.from(document.querySelectorAll('.no-data')).map(n => n.textContent)"
    )
    assert "marts.rpt_experiment_plan is not in the warehouse (not built)." in notes
    assert "No data: marts.rpt_daily_kpis has no rows." in notes
    assert len(notes) == 6  # kpis, funnels, retention, results, plan, prompt feedback


def _copy_marts_to_postgres(source: Path, params: dict[str, str]) -> None:
    """The sample's exported marts as PostgreSQL tables (types mapped, rows copied as is)."""
    types = {"VARCHAR": "text", "DOUBLE": "double precision", "BOOLEAN": "boolean"}
    con = duckdb.connect(str(source), read_only=True)
    pg = psycopg2.connect(**params)
    try:
        with pg, pg.cursor() as cur:
            cur.execute("create schema marts")
            for mart in CSV_MARTS:
                described = con.execute(f"describe marts.{mart}").fetchall()
                columns = ", ".join(
                    f"{name} {types.get(kind, kind.lower())}" for name, kind, *_ in described
                )
                cur.execute(f"create table marts.{mart} ({columns})")
                rows = con.execute(f"select * from marts.{mart}").fetchall()
                marks = ", ".join(["%s"] * len(described))
                cur.executemany(
                    f"insert into marts.{mart} values ({marks})",
                    [
                        tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in r)
                        for r in rows
                    ],
                )
    finally:
        pg.close()
        con.close()


def test_report_on_postgres_matches_duckdb(
    postgres_available: dict[str, str], sample: dict[str, Path], report_dir: Path, tmp_path: Path
) -> None:
    """`lpa report --target postgres` over the same mart rows writes the same CSVs and the
    same page (the dbt parity tests prove the marts equal; this proves the report code)."""
    name = f"lpa_report_{tmp_path.name[-20:]}".lower().replace("-", "_")
    create_database(postgres_available, name)
    params = {**postgres_available, "dbname": name}
    try:
        _copy_marts_to_postgres(sample["duckdb"], params)
        env_out = tmp_path / "pg"
        env = pg_env(params)
        result = subprocess.run(
            [str(LPA), "report", "--target", "postgres", "--out", str(env_out)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        assert result.returncode == 0, result.stderr
    finally:
        drop_database(postgres_available, name)
    for mart in CSV_MARTS:
        assert (env_out / "csv" / f"{mart}.csv").read_text() == (
            report_dir / "csv" / f"{mart}.csv"
        ).read_text(), mart
    pg_html = (env_out / "report.html").read_text()
    duck_html = (report_dir / "report.html").read_text()
    assert pg_html == duck_html.replace("warehouse: duckdb", "warehouse: postgres")
