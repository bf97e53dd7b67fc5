"""Retention, daily KPIs and the weekly lifecycle on generated sample data, on DuckDB and
PostgreSQL: the pooled N-day retention equals the generator's realized values (same
definition), covers the planted curve, the KPIs and lifecycle match an independent Python
recomputation from fct_events, and both warehouses agree row by row."""

from __future__ import annotations

import collections
import datetime as dt
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from dbt_harness import (
    comparable_rows,
    query_duckdb,
    query_postgres,
    run_dbt,
    sample_warehouse_fixtures,
)

SAMPLE = {"users": 400, "days": 40, "seed": 11}
NON_ACTIVITY = {"session_started", "session_ended"}  # var non_activity_events
MAU_DAYS = 30  # var kpis.mau_days
OUR_TABLES = (
    "intermediate.int_persons__daily_activity",
    "marts.rpt_retention",
    "marts.rpt_daily_kpis",
    "marts.rpt_lifecycle_weekly",
)
# Our marts and everything upstream, with their data tests and our unit tests. Tests on other
# nodes (indirect selection) and unit tests upstream of fct_events belong to other suites.
BUILD = [
    "build",
    "--indirect-selection",
    "cautious",
    "--select",
    "+int_persons__daily_activity",
    "+rpt_retention",
    "+rpt_daily_kpis",
    "+rpt_lifecycle_weekly",
    "--exclude",
    "test_type:unit,+fct_events",
]
# The generator rounds its realized retention to 6 decimals.
TRUTH_DECIMALS = 6


retention_sample, retention_duckdb, retention_postgres, query = sample_warehouse_fixtures(
    "retention", SAMPLE, BUILD
)


def _pooled_n_day(query) -> dict[int, dict]:
    rows = query(
        "select * from marts.rpt_retention"
        " where is_pooled and retention_kind = 'n_day' and breakdown_value = 'all'"
    )
    return {r["period_start"]: r for r in rows}


# ---------------------------------------------------------------- retention vs ground truth


def test_pooled_n_day_retention_equals_the_ground_truth(query, retention_sample) -> None:
    _, truth = retention_sample
    realized = truth["retention"]["realized"]
    pooled = _pooled_n_day(query)
    for n in (1, 7, 30):
        expected = realized[f"d{n}"]
        assert expected is not None, f"d{n}: the sample is too short for the ground truth"
        row = pooled[n]
        rate = row["retained_persons"] / row["eligible_persons"]
        assert row["retention_rate"] == pytest.approx(rate, abs=1e-12)
        # Same definition: equal up to the generator's rounding to 6 decimals.
        assert round(row["retention_rate"], TRUTH_DECIMALS) == expected, f"d{n}"
        assert abs(row["retention_rate"] - expected) <= 0.5 * 10**-TRUTH_DECIMALS + 1e-12


def test_every_realized_day_equals_the_ground_truth(
    retention_sample, retention_duckdb: Path, tmp_path: Path
) -> None:
    """Rebuild rpt_retention on a copy of the DuckDB warehouse with every period 1..days-1
    and compare each with the generator's realized_by_day."""
    raw, truth = retention_sample
    by_day = truth["retention"]["realized_by_day"]
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(retention_duckdb, copy)
    periods = list(range(1, SAMPLE["days"]))
    retention_var = {
        "cohort_event": None,
        "return_event": None,
        "grain": "day",
        "periods": periods,
        "brackets": [],
        "breakdown": None,
    }
    run_dbt(
        ["run", "--select", "rpt_retention"],
        target="duckdb",
        raw_path=raw,
        work_dir=tmp_path,
        duckdb_path=copy,
        extra_vars={"retention": retention_var},
    )
    pooled = _pooled_n_day(lambda sql: query_duckdb(copy, sql))
    assert sorted(pooled) == periods
    for n in periods:
        assert round(pooled[n]["retention_rate"], TRUTH_DECIMALS) == by_day[f"d{n}"], f"d{n}"


def test_pooled_retention_covers_the_planted_curve(query, retention_sample) -> None:
    _, truth = retention_sample
    planted = truth["retention"]["planted_curve"]
    pooled = _pooled_n_day(query)
    for n in (1, 7):
        p = planted[f"d{n}"]
        row = pooled[n]
        standard_error = math.sqrt(p * (1 - p) / row["eligible_persons"])
        assert abs(row["retention_rate"] - p) <= 4 * standard_error, (
            f"d{n}: {row['retention_rate']:.4f} vs planted {p:.4f} ± 4 × {standard_error:.4f}"
        )


def test_pooled_rows_are_the_sums_of_the_cohort_rows(query) -> None:
    rows = query("select * from marts.rpt_retention")
    sums: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for r in rows:
        if not r["is_pooled"]:
            key = (r["breakdown_value"], r["retention_kind"], r["period_start"], r["period_end"])
            for i, column in enumerate(("cohort_size", "eligible_persons", "retained_persons")):
                sums[key][i] += r[column]
    pooled = [r for r in rows if r["is_pooled"]]
    assert len(pooled) == 9  # periods 1, 7, 30 twice (n_day, unbounded) + 3 brackets
    for r in pooled:
        key = (r["breakdown_value"], r["retention_kind"], r["period_start"], r["period_end"])
        assert [r["cohort_size"], r["eligible_persons"], r["retained_persons"]] == sums[key]
    # "On or after" retains at least as many as "on"; bracket [1, 1] is D1.
    by_key = {(r["retention_kind"], r["period_start"]): r for r in pooled}
    for n in (1, 7, 30):
        assert (
            by_key[("unbounded", n)]["retained_persons"] >= by_key[("n_day", n)]["retained_persons"]
        )
    assert by_key[("bracket", 1)]["retained_persons"] == by_key[("n_day", 1)]["retained_persons"]


# ---------------------------------------------------------------- KPIs and lifecycle, recomputed


def _events(query) -> list[dict]:
    return query(
        "select person_id, event_name, event_date, app_id, latency_ms, rating, message_id"
        " from marts.fct_events"
    )


def _active_days(events: list[dict], app_id: str | None = None) -> dict[dt.date, set[str]]:
    days: dict[dt.date, set[str]] = collections.defaultdict(set)
    for e in events:
        if e["event_name"] in NON_ACTIVITY:
            continue
        if app_id is not None and e["app_id"] != app_id:
            continue
        days[e["event_date"]].add(e["person_id"])
    return days


def _in_window(days: dict[dt.date, set[str]], day: dt.date, length: int) -> int:
    persons: set[str] = set()
    for back in range(length):
        persons |= days.get(day - dt.timedelta(days=back), set())
    return len(persons)


def test_daily_active_persons_match_a_recount(query) -> None:
    events = _events(query)
    kpis = query("select * from marts.rpt_daily_kpis")
    first_date = min(e["event_date"] for e in events)
    last_date = max(e["event_date"] for e in events)
    apps = sorted({e["app_id"] for e in events if e["app_id"] is not None})
    assert {(r["app_id"], r["report_date"]) for r in kpis} == {
        (app, first_date + dt.timedelta(days=i))
        for app in ["all", *apps]
        for i in range((last_date - first_date).days + 1)
    }
    first_seen: dict[str, dt.date] = {}
    for day, persons in sorted(_active_days(events).items()):
        for person in persons:
            first_seen.setdefault(person, day)
    new_by_day = collections.Counter(first_seen.values())
    for scope in ["all", *apps]:
        days = _active_days(events, None if scope == "all" else scope)
        for r in (r for r in kpis if r["app_id"] == scope):
            day = r["report_date"]
            expected = (
                len(days.get(day, set())),
                _in_window(days, day, 7),
                _in_window(days, day, MAU_DAYS),
            )
            assert (r["dau"], r["wau"], r["mau"]) == expected, (scope, day)
            if scope == "all":
                assert r["new_persons"] == new_by_day.get(day, 0), day
            else:
                assert r["new_persons"] is None


def test_llm_rates_match_a_recount(query) -> None:
    events = _events(query)
    kpis = {(r["app_id"], r["report_date"]): r for r in query("select * from marts.rpt_daily_kpis")}
    groups: dict[tuple, list[dict]] = collections.defaultdict(list)
    for e in events:
        groups[("all", e["event_date"])].append(e)
        if e["app_id"] is not None:
            groups[(e["app_id"], e["event_date"])].append(e)
    checked_latency = 0
    for key, group in groups.items():
        row = kpis[key]
        completed = [e for e in group if e["event_name"] == "response_completed"]
        failed = [e for e in group if e["event_name"] == "response_failed"]
        assert row["query_count"] == sum(e["event_name"] == "query_submitted" for e in group)
        if completed or failed:
            assert row["error_rate"] == pytest.approx(len(failed) / (len(completed) + len(failed)))
        else:
            assert row["error_rate"] is None
        latencies = [e["latency_ms"] for e in completed if e["latency_ms"] is not None]
        if latencies:
            p50, p95 = np.percentile(latencies, [50, 95])  # linear, like quantile_cont
            assert row["latency_p50_ms"] == pytest.approx(p50, rel=1e-9)
            assert row["latency_p95_ms"] == pytest.approx(p95, rel=1e-9)
            checked_latency += 1
        rated = {e["message_id"] for e in group if e["event_name"] == "feedback_given"}
        liked = {
            e["message_id"]
            for e in group
            if e["event_name"] == "feedback_given" and e["rating"] == 1
        }
        assert row["rated_message_count"] == len(rated)
        if rated:
            assert row["like_rate"] == pytest.approx(len(liked) / len(rated))
            assert row["like_rate"] + row["dislike_rate"] == pytest.approx(1.0)
    assert checked_latency > SAMPLE["days"]


def test_lifecycle_matches_a_recount(query) -> None:
    events = _events(query)
    weeks_by_person: dict[str, set[dt.date]] = collections.defaultdict(set)
    for e in events:
        if e["event_name"] not in NON_ACTIVITY:
            day = e["event_date"]
            weeks_by_person[e["person_id"]].add(day - dt.timedelta(days=day.weekday()))
    rows = {r["week_start"]: r for r in query("select * from marts.rpt_lifecycle_weekly")}
    week = dt.timedelta(days=7)
    for start, r in rows.items():
        active = {p for p, weeks in weeks_by_person.items() if start in weeks}
        before = {p for p, weeks in weeks_by_person.items() if start - week in weeks}
        new = {p for p in active if min(weeks_by_person[p]) == start}
        returning = active & before
        resurrected = active - before - new
        assert (
            r["active_persons"],
            r["new_persons"],
            r["returning_persons"],
            r["resurrected_persons"],
            r["dormant_persons"],
        ) == (len(active), len(new), len(returning), len(resurrected), len(before - active))
    assert sum(r["new_persons"] for r in rows.values()) == len(weeks_by_person)


# ---------------------------------------------------------------- adapters agree


def test_duckdb_and_postgres_agree_row_by_row(
    retention_duckdb: Path, retention_postgres: dict
) -> None:
    for table in OUR_TABLES:
        duck = query_duckdb(retention_duckdb, f"select * from {table}")
        pg = query_postgres(retention_postgres, f"select * from {table}")
        assert duck, table
        assert len(duck) == len(pg), table
        assert comparable_rows(duck) == comparable_rows(pg), table
