"""A/B experiments on generated sample data with planted truth, on DuckDB (Python model,
pandas + scipy) and PostgreSQL (SQL twin with PL/pgSQL distribution functions):

- the experiment marts count exactly what the generator realized (exposed persons,
  conversions, sessions, exports per arm);
- the planted +20% lift on exports per session lies inside the relative-lift interval, and
  the A/A experiment is not significant;
- a broken split is flagged as a sample ratio mismatch and decided `invalid_srm`;
- the Python and SQL results agree within REL_TOL on every column, and every other
  experiment table is equal row by row;
- the Mann-Whitney p-value from SQL ranks equals scipy's, and the plan's sample size equals
  llm_product_analytics.stats;
- bad configuration fails the build with a clear message.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from llm_product_analytics import stats
from llm_product_analytics.generate_output import uid

from dbt_harness import (
    REPO,
    query_duckdb,
    query_postgres,
    run_dbt,
    sample_warehouse_fixtures,
)

SAMPLE = {"users": 900, "days": 30, "seed": 5}
PLANTED_LIFT = 0.2
# Python (scipy) and SQL (PL/pgSQL) results agree to this relative tolerance.
REL_TOL = 1e-9
ABS_TOL = 1e-12
EXPERIMENT_TABLES = (
    "marts.dim_experiment_variants",
    "marts.dim_experiment_metrics",
    "marts.fct_experiment_assignments",
    "marts.fct_experiment_person_metrics",
    "marts.rpt_experiment_variant_summaries",
    "marts.rpt_experiment_plan",
    "intermediate.int_experiment__rank_sums",
    "marts.rpt_experiment_results",
)
BUILD = [
    "build",
    "--indirect-selection",
    "cautious",
    "--select",
    "+rpt_experiment_results",
    "+rpt_experiment_plan",
    "+int_experiment__rank_sums",
    "+stg_dify__app_model_configs",
    "--exclude",
    "test_type:unit,+fct_events",
]


def project_vars() -> dict:
    return yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]


def sample_experiments(seed: int) -> list[dict]:
    """The project's experiments, the prompt experiment pointed at this sample's ids."""
    experiments = project_vars()["experiments"]
    for exp in experiments:
        if exp["assignment"].get("source") == "dify_prompt_version":
            exp["assignment"]["app_id"] = uid(seed, "app", 0)
            for i, variant in enumerate(exp["variants"]):
                variant["prompt_version_id"] = uid(seed, "cfg", i)
    return experiments


experiment_sample, experiment_duckdb, experiment_postgres, query = sample_warehouse_fixtures(
    "experiment", SAMPLE, BUILD, extra_vars={"experiments": sample_experiments(SAMPLE["seed"])}
)


def results(path: Path) -> dict[tuple, dict]:
    rows = query_duckdb(path, "select * from marts.rpt_experiment_results")
    return {(r["experiment_id"], r["metric_name"], r["variant"]): r for r in rows}


# ---------------------------------------------------------------- planted truth


def test_arms_count_exactly_what_the_generator_realized(experiment_sample, experiment_duckdb):
    truth = experiment_sample[1]["experiments"]
    rows = query_duckdb(
        experiment_duckdb,
        """
        select experiment_id, metric_name, variant, n, sum_value, sum_denominator
        from marts.rpt_experiment_variant_summaries
        where metric_name in ('exports_per_session', 'export_conversion')
        """,
    )
    got = {(r["experiment_id"], r["metric_name"], r["variant"]): r for r in rows}
    for flag, info in truth.items():
        for variant, realized in info["realized"].items():
            ratio = got[(flag, "exports_per_session", variant)]
            assert ratio["n"] == realized["exposed_persons"]
            assert ratio["sum_value"] == realized["result_exported"]
            assert ratio["sum_denominator"] == realized["sessions"]
            if (flag, "export_conversion", variant) in got:
                assert (
                    got[(flag, "export_conversion", variant)]["sum_value"]
                    == (realized["conversions"])
                )


def test_planted_lift_is_inside_the_interval(experiment_duckdb):
    row = results(experiment_duckdb)[("onboarding_copy_v2", "exports_per_session", "treatment")]
    assert row["test_method"] == "delta_method_z"
    assert row["relative_lift_ci_lower"] < PLANTED_LIFT < row["relative_lift_ci_upper"]
    assert row["relative_lift_ci_lower"] > 0, "the planted lift should be detected at this size"
    assert row["decision"] == "ship"


def test_aa_experiment_is_not_significant(experiment_duckdb):
    rows = [r for k, r in results(experiment_duckdb).items() if k[0] == "aa_check"]
    assert rows
    for row in rows:
        assert row["p_value"] > 0.05, row
        assert row["decision"] == "inconclusive"
        assert row["relative_lift_ci_lower"] < 0 < row["relative_lift_ci_upper"]
        assert row["srm_p_value"] > 0.001


def test_prompt_experiment_excludes_multi_variant_persons(experiment_duckdb):
    rows = query_duckdb(
        experiment_duckdb,
        """
        select exclusion_reason, count(*) as persons, sum(case when is_included then 1 else 0 end)
            as included
        from marts.fct_experiment_assignments
        where experiment_id = 'support_prompt_v2'
        group by 1
        """,
    )
    by_reason = {r["exclusion_reason"]: r for r in rows}
    assert by_reason["multiple_variants"]["persons"] > 0
    assert by_reason["multiple_variants"]["included"] == 0
    result = results(experiment_duckdb)[("support_prompt_v2", "dislike_rate", "v2")]
    assert result["excluded_persons"] == by_reason["multiple_variants"]["persons"]
    assert result["included_persons"] == by_reason[None]["persons"]


def test_sample_ratio_mismatch_is_flagged(experiment_sample, experiment_duckdb, tmp_path):
    """The same exposures judged against a planned 80/20 split: invalid_srm everywhere."""
    broken = sample_experiments(SAMPLE["seed"])
    broken[0]["variants"] = {"control": 0.8, "treatment": 0.2}
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(experiment_duckdb, copy)
    run_dbt(
        ["run", "--select", "dim_experiment_variants+"],
        target="duckdb",
        raw_path=experiment_sample[0],
        work_dir=tmp_path,
        duckdb_path=copy,
        extra_vars={"experiments": broken},
    )
    rows = [r for k, r in results(copy).items() if k[0] == broken[0]["experiment_id"]]
    assert rows
    n = rows[0]["n_control"] + rows[0]["n_treatment"]
    expected = stats.srm_test([rows[0]["n_control"], rows[0]["n_treatment"]], [0.8, 0.2])
    for row in rows:
        assert row["srm_p_value"] < 1e-6, (n, row["srm_p_value"])
        assert math.isclose(row["srm_p_value"], expected.p_value, rel_tol=1e-12)
        assert row["decision"] == "invalid_srm"


# ---------------------------------------------------------------- cross-checks


def test_sql_ranks_give_scipy_mann_whitney(experiment_duckdb):
    ranks = query_duckdb(experiment_duckdb, "select * from intermediate.int_experiment__rank_sums")
    assert ranks
    got = results(experiment_duckdb)
    for r in ranks:
        from_ranks = stats.mann_whitney_from_ranks(
            r["rank_sum_treatment"], r["n_control"], r["n_treatment"], r["tie_term"]
        )
        row = got[(r["experiment_id"], r["metric_name"], r["treatment_variant"])]
        if row["mann_whitney_p_value"] is None:
            assert from_ranks.p_value is None
        else:
            assert math.isclose(from_ranks.p_value, row["mann_whitney_p_value"], rel_tol=1e-9)


def test_plan_sample_size_matches_stats_module(experiment_duckdb):
    rows = query_duckdb(experiment_duckdb, "select * from marts.rpt_experiment_plan")
    checked = 0
    for r in rows:
        if r["baseline_unit_variance"] is None or not r["baseline_mean"]:
            continue
        effect = r["minimum_detectable_effect"] * abs(r["baseline_mean"])
        expected = stats.sample_size_per_arm(
            r["baseline_unit_variance"], effect, r["alpha"], r["power"]
        )
        assert abs(r["required_n_per_arm"] - expected) <= 1, r
        mde = stats.mde_at_sample_size(r["baseline_unit_variance"], r["current_n_control"])
        if r["current_n_control"] == r["current_n_smallest_treatment"]:
            assert math.isclose(r["current_relative_mde"] * abs(r["baseline_mean"]), mde)
        checked += 1
    assert checked >= 5


# ---------------------------------------------------------------- parity


def close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if hasattr(a, "isoformat") and hasattr(b, "isoformat"):
        return str(a)[:19] == str(b)[:19]
    return a == b


@pytest.mark.parametrize("table", EXPERIMENT_TABLES)
def test_duckdb_and_postgres_agree(table, experiment_duckdb, experiment_postgres):
    duck = query_duckdb(experiment_duckdb, f"select * from {table}")
    pg = query_postgres(experiment_postgres, f"select * from {table}")
    assert len(duck) == len(pg) > 0
    key = next(iter(duck[0]))  # every experiment table starts with its primary key

    def keyed(rows):
        return {r[key]: r for r in rows}

    duck_rows, pg_rows = keyed(duck), keyed(pg)
    assert duck_rows.keys() == pg_rows.keys()
    for k, d in duck_rows.items():
        p = pg_rows[k]
        assert d.keys() == p.keys()
        diffs = {c: (d[c], p[c]) for c in d if not close(d[c], p[c])}
        assert not diffs, (table, k, diffs)


# ---------------------------------------------------------------- configuration


BAD_CONFIG = [
    ({"primary_metrics": ["no_such_metric"]}, "unknown metric 'no_such_metric'"),
    ({"control": "baseline"}, "control variant 'baseline' is not one of its variants"),
    ({"variants": {"control": 1}}, "needs at least 2 variants"),
    ({"alpha": 0.7}, "needs 0 < alpha < 0.5"),
    ({"assignment": {"source": "cookie"}}, "assignment.source must be"),
]


@pytest.mark.parametrize(("change", "message"), BAD_CONFIG)
def test_bad_experiment_config_fails_with_a_clear_message(change, message, tmp_path):
    experiments = project_vars()["experiments"][:1]
    experiments[0].update(change)
    result = run_dbt(
        ["compile", "--select", "dim_experiment_variants"],
        target="duckdb",
        raw_path=tmp_path,
        work_dir=tmp_path,
        extra_vars={"experiments": experiments},
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert "experiment 'onboarding_copy_v2'" in result.stdout


# ---------------------------------------------------------------- the loop back to Dify


def test_prompt_winner_follows_the_results(experiment_duckdb, tmp_path, capsys):
    """The concluded prompt experiment's patch is the winner the results decide: v2 is
    disliked three times as often (planted 0.3 vs 0.1), so v1 stays."""
    from llm_product_analytics.cli import main

    out = tmp_path / "dify"
    code = main(
        [
            "export-prompt-winner",
            "--duckdb-path",
            str(experiment_duckdb),
            "--as-of",
            "2026-12-01",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr()
    patch = json.loads((out / "support_prompt_v2.json").read_text())
    decision = results(experiment_duckdb)[("support_prompt_v2", "dislike_rate", "v2")]["decision"]
    assert decision == "no_ship"
    assert patch["action"] == "keep_current"
    assert patch["winner_variant"] == "v1"
    assert patch["prompt_version_id"] == uid(SAMPLE["seed"], "cfg", 0)
    assert "(prompt v2)" not in patch["model_config"]["pre_prompt"]
    assert {row["metric_name"] for row in patch["evidence"]} == {
        "dislike_rate",
        "queries_per_person",
    }
