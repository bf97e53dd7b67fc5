"""Prompt feedback marts on generated sample data, on DuckDB and PostgreSQL: the weekly report
summed over weeks equals the generator's realized messages, ratings and dislikes per prompt
version (end-user feedback only: the planted admin ratings do not count), the planted worse
version ranks worse, no message is lost, a Python recount agrees week by week, the review
queue holds exactly the low-rated messages, and both warehouses agree row by row."""

from __future__ import annotations

import collections
import datetime as dt
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

SAMPLE = {"users": 300, "days": 21, "seed": 11}
WEEKLY = "marts.rpt_prompt_feedback_weekly"
QUEUE = "marts.rpt_low_rated_responses"
MESSAGES = "marts.fct_llm_messages"
NO_PROMPT_VERSION = "(none)"  # sentinel of rpt_prompt_feedback_weekly
# Our marts and everything upstream, with their data tests and our unit tests. Unit tests of
# fct_llm_messages and upstream belong to other suites.
BUILD = [
    "build",
    "--indirect-selection",
    "cautious",
    "--select",
    "+rpt_prompt_feedback_weekly",
    "+rpt_low_rated_responses",
    "--exclude",
    "test_type:unit,+fct_llm_messages",
]


feedback_sample, feedback_duckdb, feedback_postgres, query = sample_warehouse_fixtures(
    "feedback", SAMPLE, BUILD, scope="module"
)


def _totals_by_version(query) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = collections.defaultdict(collections.Counter)
    for r in query(f"select * from {WEEKLY}"):
        for column in ("messages", "rated_messages", "likes", "dislikes", "low_rated_messages"):
            totals[r["prompt_version_id"]][column] += r[column]
    return totals


# ---------------------------------------------------------------- against the ground truth


def test_weekly_sums_equal_the_realized_truth(query, feedback_sample) -> None:
    _, truth = feedback_sample
    planted = truth["prompt_versions"]
    assert len(planted) == 2
    totals = _totals_by_version(query)
    # Every prompt version of the report is a planted one (no '(none)' bucket in the sample).
    assert set(totals) == set(planted)
    for version_id, version in planted.items():
        realized = version["realized"]
        got = totals[version_id]
        assert (got["messages"], got["rated_messages"], got["dislikes"]) == (
            realized["messages"],
            realized["rated"],
            realized["dislikes"],
        ), version["version"]
        # Dify has like/dislike only: low-rated = disliked, and every rating is one of both.
        assert got["low_rated_messages"] == got["dislikes"]
        assert got["likes"] + got["dislikes"] == got["rated_messages"]


def test_admin_ratings_are_not_user_feedback(query, feedback_sample) -> None:
    """The sample plants admin ratings (console reviews): counting messages with any rating
    would miss the truth, counting the end user's ratings only matches it."""
    _, truth = feedback_sample
    any_rating = {
        r["prompt_version_id"]: r["n"]
        for r in query(
            f"select prompt_version_id, count(*) as n from {MESSAGES}"
            " where admin_rating is not null or user_rating is not null group by 1"
        )
    }
    totals = _totals_by_version(query)
    mismatches = 0
    for version_id, version in truth["prompt_versions"].items():
        assert totals[version_id]["rated_messages"] == version["realized"]["rated"]
        mismatches += any_rating[version_id] != version["realized"]["rated"]
    assert mismatches > 0, "the sample should plant admin-only ratings"


def test_planted_worse_version_ranks_worse(query, feedback_sample) -> None:
    _, truth = feedback_sample
    by_version = {v["version"]: k for k, v in truth["prompt_versions"].items()}
    v1, v2 = by_version["v1"], by_version["v2"]
    planted = {v: truth["prompt_versions"][v]["planted_dislike_rate"] for v in (v1, v2)}
    assert planted[v2] > planted[v1]
    totals = _totals_by_version(query)
    overall = {v: totals[v]["dislikes"] / totals[v]["rated_messages"] for v in (v1, v2)}
    assert overall[v2] > overall[v1]
    rows = query(f"select * from {WEEKLY}")
    worst_weeks = collections.Counter(
        r["prompt_version_id"] for r in rows if r["dislike_rate_rank_in_week"] == 1
    )
    assert worst_weeks[v2] > worst_weeks[v1], worst_weeks


# ---------------------------------------------------------------- conservation and recount


def test_no_message_is_lost(query) -> None:
    (fact,) = query(f"select count(*) as n from {MESSAGES}")
    (report,) = query(f"select sum(messages) as n from {WEEKLY}")
    assert fact["n"] > 0
    assert report["n"] == fact["n"]


def test_weekly_rows_match_a_recount(query) -> None:
    messages = query(
        "select app_id, prompt_version_id, message_date, user_rating, admin_rating, is_error,"
        f" is_answered, latency_ms, total_tokens from {MESSAGES}"
    )
    groups: dict[tuple, list[dict]] = collections.defaultdict(list)
    for m in messages:
        week = m["message_date"] - dt.timedelta(days=m["message_date"].weekday())
        groups[(m["app_id"], m["prompt_version_id"] or NO_PROMPT_VERSION, week)].append(m)
    rows = {
        (r["app_id"], r["prompt_version_id"], r["week_start"]): r
        for r in query(f"select * from {WEEKLY}")
    }
    assert set(rows) == set(groups)
    for key, group in groups.items():
        r = rows[key]
        assert r["week_start"].weekday() == 0  # Monday
        rated = [m for m in group if m["user_rating"] is not None]
        dislikes = sum(m["user_rating"] == -1 for m in group)
        errors = sum(bool(m["is_error"]) for m in group)
        assert (
            r["messages"],
            r["rated_messages"],
            r["likes"],
            r["dislikes"],
            r["error_messages"],
            r["total_tokens"],
        ) == (
            len(group),
            len(rated),
            sum(m["user_rating"] == 1 for m in group),
            dislikes,
            errors,
            sum(m["total_tokens"] or 0 for m in group),
        ), key
        assert r["error_rate"] == pytest.approx(errors / len(group))
        if rated:
            assert r["dislike_rate"] == pytest.approx(dislikes / len(rated))
        else:
            assert r["dislike_rate"] is None
        latencies = [m["latency_ms"] for m in group if m["is_answered"]]
        if latencies:
            p50, p95 = np.percentile(latencies, [50, 95])  # linear, like quantile_cont
            assert r["latency_p50_ms"] == pytest.approx(p50, rel=1e-9)
            assert r["latency_p95_ms"] == pytest.approx(p95, rel=1e-9)
        previous = rows.get((key[0], key[1], key[2] - dt.timedelta(days=7)))
        if previous and r["dislike_rate"] is not None and previous["dislike_rate"] is not None:
            assert r["dislike_rate_change_vs_previous_week"] == pytest.approx(
                r["dislike_rate"] - previous["dislike_rate"]
            )
        else:
            assert r["dislike_rate_change_vs_previous_week"] is None
    # Ranks are 1..n within each app and week.
    ranks: dict[tuple, list[int]] = collections.defaultdict(list)
    for (app_id, _, week), r in rows.items():
        ranks[(app_id, week)].append(r["dislike_rate_rank_in_week"])
    for key, got in ranks.items():
        assert sorted(got) == list(range(1, len(got) + 1)), key


def test_review_queue_holds_the_low_rated_messages(query) -> None:
    disliked = query(f"select message_id from {MESSAGES} where user_rating = -1")
    queue = query(f"select * from {QUEUE}")
    (report,) = query(f"select sum(low_rated_messages) as n from {WEEKLY}")
    assert {r["message_id"] for r in queue} == {r["message_id"] for r in disliked}
    assert len(queue) == report["n"] > 0
    for r in queue:
        assert r["user_rating"] == -1
        assert r["review_priority"] in (1, 2, 3, 4)
        assert r["rated_at"] is not None and r["rated_at"] >= r["created_at"]
        # Personal data stays out by default.
        assert r["query_text"] is None and r["answer_text"] is None


def test_review_queue_text_only_with_the_var(
    feedback_sample, feedback_duckdb: Path, tmp_path: Path
) -> None:
    """Rebuild the queue on a copy of the DuckDB warehouse with var review_queue_include_text:
    same rows, now with the staged query and answer."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(feedback_duckdb, copy)
    run_dbt(
        ["run", "--select", "rpt_low_rated_responses"],
        target="duckdb",
        raw_path=feedback_sample[0],
        work_dir=tmp_path,
        duckdb_path=copy,
        extra_vars={"review_queue_include_text": True},
    )
    with_text = query_duckdb(
        copy,
        f"select queue.message_id, queue.query_text, queue.answer_text, staged.query,"
        f" staged.answer from {QUEUE} as queue"
        " inner join staging.stg_dify__messages as staged"
        " on queue.message_id = staged.message_id",
    )
    default = query_duckdb(feedback_duckdb, f"select message_id from {QUEUE}")
    assert sorted(r["message_id"] for r in with_text) == sorted(r["message_id"] for r in default)
    assert any(r["query_text"] for r in with_text)
    for r in with_text:
        assert (r["query_text"], r["answer_text"]) == (r["query"], r["answer"])


# ---------------------------------------------------------------- adapters agree


def test_duckdb_and_postgres_agree_row_by_row(
    feedback_duckdb: Path, feedback_postgres: dict
) -> None:
    for table in (WEEKLY, QUEUE):
        duck = query_duckdb(feedback_duckdb, f"select * from {table}")
        pg = query_postgres(feedback_postgres, f"select * from {table}")
        assert duck, table
        assert len(duck) == len(pg), table
        assert comparable_rows(duck) == comparable_rows(pg), table
