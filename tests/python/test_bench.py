"""`lpa bench` at a tiny size, on DuckDB: every measurement is present and sane.

The benchmark is a command, not a timed test: nothing here asserts a duration or a target,
only that each step ran, produced positive figures and that the funnel models and the naive
self-join agree on the persons reaching each step.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_product_analytics.bench import (
    FUNNEL_MODELS,
    FUNNEL_STEPS,
    heavy_events,
    self_join_sql,
)

REPO = Path(__file__).resolve().parents[2]
EVENTS = 20_000


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_results")
    proc = subprocess.run(
        [sys.executable, "-m", "llm_product_analytics", "bench", "--events", str(EVENTS)]
        + ["--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    files = sorted(out.iterdir())
    return proc.stdout, files


def test_writes_json_and_markdown(bench_run):
    stdout, files = bench_run
    assert [f.suffix for f in files] == [".json", ".md"]
    assert files[0].stem == files[1].stem
    md = files[1].read_text()
    for row in (
        "floor",
        "full build",
        "second build",
        "batch floor",
        "funnel on heavy users",
        "funnel, 1-day window",
        "peak memory",
    ):
        assert row in stdout
        assert row in md
    # Every target gets a verdict, never an exception.
    assert stdout.count("PASS") + stdout.count("FAIL") >= 4


def test_every_measurement_is_present_and_sane(bench_run):
    r = json.loads(bench_run[1][0].read_text())
    assert r["target"] == "duckdb"
    assert r["events_requested"] == EVENTS
    d = r["data"]
    # Users are scaled from a calibration run: within 15 % of the request.
    assert abs(d["raw_records"] - EVENTS) / EVENTS < 0.15
    assert d["raw_records"] == d["amplitude_lines"] + d["merge_id_lines"] + d["dify_rows"]
    assert d["new_day_amplitude_files"] > 0 and d["new_day_dify_rows"] > 0
    assert d["full_amplitude_files"] > d["new_day_amplitude_files"]
    assert (d["days_full"], d["lookback_days"]) == (30, 3)

    assert r["floor"]["seconds"] > 0
    # The floor read every Amplitude line of the full input (everything but the new day).
    assert 0 < r["floor"]["amplitude_lines"] < d["amplitude_lines"] + d["merge_id_lines"]

    full = r["full_build"]
    assert full["wall_s"] > 0 and full["sum_model_s"] > 0
    assert full["models"] >= 40
    assert all(t >= 0 for t in full["model_times"].values())
    assert "fct_events" in full["model_times"] and "base_amplitude__events" in full["model_times"]
    # Models and seeds succeed; the adapter's no-op hooks report "no-op".
    assert full["statuses"]["success"] >= full["models"]
    assert set(full["statuses"]) <= {"success", "no-op"}

    tests = r["tests"]
    assert tests["wall_s"] > 0 and tests["count"] > 100
    assert tests["exit_code"] == 0
    assert set(tests["statuses"]) <= {"pass", "success", "warn"}

    second = r["second_build"]
    assert second["wall_s"] > 0
    assert second["incremental_models"] >= 0
    # The batch window runs from the prior last date minus lookback_days to the new day (or
    # further back for late data); the batch recomputes the window's events in
    # int_events__unioned, which writes only the new or different ones (fewer than the
    # window's), and rewrites those (and the late logins' and sessions') in fct_events.
    bs = second["batch"]
    assert bs["days_total"] == 31
    assert bs["window_days"] >= d["lookback_days"] + 2
    assert bs["earliest_changed_date"] <= bs["cutoff_date"]
    assert 0 < bs["union_written"] < bs["window_events"] <= bs["events_total"]
    assert 0 < bs["events_rewritten"] < bs["events_total"]
    assert bs["event_share"] == pytest.approx(
        bs["events_rewritten"] / bs["events_total"], abs=0.001
    )
    # The new day's events are new rows; the sessions split again mostly come out the same.
    assert 0 < bs["events_moved"] < bs["events_rewritten"]
    assert 0 < bs["persons_touched"] <= bs["persons_total"]
    assert bs["person_share"] == pytest.approx(
        bs["persons_touched"] / bs["persons_total"], abs=0.001
    )
    assert 0 < r["peak_memory_gib"] < 24
    assert r["engine_settings"]["memory_limit"] and int(r["engine_settings"]["threads"]) >= 1

    q = r["ratios"]
    assert q["full_vs_floor"]["value"] == pytest.approx(
        full["wall_s"] / r["floor"]["seconds"], rel=0.01
    )
    assert q["second_vs_full"]["value"] == pytest.approx(
        second["wall_s"] / full["wall_s"], abs=0.001
    )
    # The batch floor read exactly the new day's Amplitude lines: fewer than the full floor.
    bf = r["batch_floor"]
    assert bf["seconds"] > 0
    assert 0 < bf["amplitude_lines"] < r["floor"]["amplitude_lines"]
    assert q["batch_floor_vs_full"]["value"] == pytest.approx(
        bf["seconds"] / full["wall_s"], abs=0.001
    )
    assert q["second_vs_batch_floor"]["value"] == pytest.approx(
        second["wall_s"] / bf["seconds"], rel=0.01
    )
    for name, ratio in q.items():
        assert ratio["status"] in ({"PASS", "FAIL"} if ratio["target"] else {""}), name

    m = r["machine"]
    assert m["cores"] >= 1 and m["ram_gib"] > 0 and m["versions"]["dbt-core"]


@pytest.mark.parametrize(
    ("key", "window_seconds"), [("funnel", 7 * 86400), ("funnel_short_window", 86400)]
)
def test_funnel_models_and_self_join_agree(bench_run, key, window_seconds):
    f = json.loads(bench_run[1][0].read_text())[key]
    assert f["window_seconds"] == window_seconds
    assert f["rows"] >= 20_000 and f["persons"] >= 5
    assert set(f["model_times"]) == set(FUNNEL_MODELS)
    assert all(t > 0 for t in f["model_times"].values())
    assert f["self_join_seconds"] > 0 and not f["self_join_timed_out"]
    # speedup is rounded to 2 decimals.
    assert f["speedup"] == pytest.approx(f["self_join_seconds"] / f["model_seconds"], abs=0.006)
    counts = f["persons_per_step_model"]
    assert f["persons_per_step_self_join"] == counts and f["counts_equal"] is True
    # Everyone starts; the funnel narrows and the last step is not reached by everyone.
    assert counts[0] == f["persons"]
    assert counts == sorted(counts, reverse=True) and counts[-1] < counts[0]


def test_self_join_funnel_is_the_greedy_chain():
    """The naive self-join, on a hand-made person, gives the furthest step by hand."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "create table ev as select * from (values "
        # p1: view, query 1 h later, completed 2 h later, exported 25 h after the view
        # (outside the 24 h window) -> step 3.
        "('p1', 'page_view', timestamp '2026-07-01 00:00:00'),"
        "('p1', 'query_submitted', timestamp '2026-07-01 01:00:00'),"
        "('p1', 'workflow_completed', timestamp '2026-07-01 02:00:00'),"
        "('p1', 'result_exported', timestamp '2026-07-02 01:00:00'),"
        # p4: the same, but a later view starts a chain that ends in the window -> step 4.
        "('p4', 'page_view', timestamp '2026-07-01 00:00:00'),"
        "('p4', 'query_submitted', timestamp '2026-07-01 01:00:00'),"
        "('p4', 'workflow_completed', timestamp '2026-07-01 02:00:00'),"
        "('p4', 'page_view', timestamp '2026-07-01 12:00:00'),"
        "('p4', 'query_submitted', timestamp '2026-07-01 13:00:00'),"
        "('p4', 'workflow_completed', timestamp '2026-07-01 14:00:00'),"
        "('p4', 'result_exported', timestamp '2026-07-02 01:00:00'),"
        # p2: steps out of order (completed before query) -> step 2.
        "('p2', 'page_view', timestamp '2026-07-01 00:00:00'),"
        "('p2', 'workflow_completed', timestamp '2026-07-01 00:30:00'),"
        "('p2', 'query_submitted', timestamp '2026-07-01 01:00:00'),"
        # p3: same instant for step 1 and 2 counts -> step 2.
        "('p3', 'page_view', timestamp '2026-07-01 00:00:00'),"
        "('p3', 'query_submitted', timestamp '2026-07-01 00:00:00')"
        ") v(person_id, event_name, event_at)"
    )
    con.execute(self_join_sql("ev", "out", 86400))
    got = dict(con.execute("select person_id, furthest_step from out").fetchall())
    assert got == {"p1": 3, "p2": 2, "p3": 2, "p4": 4}


def test_heavy_events_shape():
    frame = heavy_events(20_000, seed=1)
    per_person = frame.groupby("person_id").size()
    assert per_person.min() >= 200 and per_person.max() <= 800
    assert set(frame["event_name"]) <= {*FUNNEL_STEPS, "session_started"}
    span = frame["event_at"].max() - frame["event_at"].min()
    assert span.days <= 7
    # Deterministic.
    assert frame.equals(heavy_events(20_000, seed=1))
