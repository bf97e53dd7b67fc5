"""The MetricFlow semantic layer (models/semantic) on generated sample data, on DuckDB and
PostgreSQL: `mf validate-configs` passes, including its data warehouse checks, and one query
per metric family (MetricFlow's Python API, set up the way `mf query` sets itself up)
returns the numbers of the corresponding mart:

- active persons, new persons, WAU and MAU by day = rpt_daily_kpis (scope `all`);
- queries, tokens, cost, like rate by day = fct_llm_messages (queries also = rpt_daily_kpis);
- funnel conversion per funnel = rpt_funnel_conversion (`(all)`, last step);
- retention by kind and period = rpt_retention's pooled rows;
- experiment exposure by experiment and variant = fct_experiment_assignments;
- a metric split by a dim_persons attribute (join through the person entity) = SQL.

MetricFlow reads `<project dir>/target/semantic_manifest.json` and connects with the
profile's default target, so each warehouse gets a scratch project directory (dbt_project.yml
and the semantic manifest of its own build) and `LPA_TARGET` selects the target. The `mf`
CLI's PyPI update check is switched off: tests make no network calls.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from llm_product_analytics.generate import generate
from llm_product_analytics.warehouse import pg_env

from dbt_harness import REPO, build_duckdb, postgres_warehouse, query_duckdb, query_postgres

SAMPLE = {"users": 200, "days": 14, "seed": 11}
# Only what the semantic models read, without data tests (other suites test the marts).
BUILD = [
    "build",
    "--resource-type",
    "model",
    "--resource-type",
    "seed",
    "--select",
    "+metricflow_time_spine",
    "+dim_persons",
    "+rpt_daily_kpis",
    "+fct_llm_messages",
    "+rpt_funnel_conversion",
    "+rpt_retention",
    "+fct_experiment_assignments",
]
# var time_spine_start / time_spine_end defaults in metricflow_time_spine.sql.
SPINE_START, SPINE_END = dt.date(2020, 1, 1), dt.date(2035, 12, 31)
# One query per metric family: metrics and group-by, as for `mf query`.
QUERIES = {
    "active": {
        "metrics": [
            "active_persons",
            "new_persons",
            "weekly_active_persons",
            "monthly_active_persons",
        ],
        "group_by": ["metric_time__day"],
    },
    "llm": {
        "metrics": [
            "queries",
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "llm_cost",
            "like_rate",
            "tokens_per_query",
        ],
        "group_by": ["metric_time__day"],
    },
    "funnel": {
        "metrics": [
            "funnel_entries",
            "funnel_conversions",
            "funnel_decided_persons",
            "funnel_conversion_rate",
        ],
        "group_by": ["funnel_progress__funnel_name"],
    },
    "retention": {
        "metrics": ["retention_retained_persons", "retention_eligible_persons", "retention_rate"],
        "group_by": ["retention_cohort__retention_kind", "retention_cohort__period_label"],
    },
    "experiments": {
        "metrics": [
            "experiment_exposed_persons",
            "experiment_included_persons",
            "experiment_exposures",
        ],
        "group_by": ["experiment_assignment__experiment_id", "experiment_assignment__variant"],
    },
    "by_platform": {
        "metrics": ["active_persons", "queries"],
        "group_by": ["person__first_platform"],
    },
}
# `mf validate-configs` without the CLI's update check (a request to pypi.org on every call).
MF_CLI = (
    "import sys, update_checker;"
    "update_checker.UpdateChecker.check = lambda *args, **kwargs: None;"
    "from dbt_metricflow.cli.main import cli;"
    "sys.exit(cli(prog_name='mf'))"
)
# The queries through MetricFlow's Python API, set up the way `mf query` sets itself up, in
# one process (each `mf` call spends seconds on imports and `dbt debug`). argv: requests
# JSON file, results JSON file.
MF_QUERIES = """
import datetime, decimal, json, sys
from dbt_metricflow.cli.cli_configuration import CLIConfiguration
from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

def cell(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value

def when(value):
    return None if value is None else datetime.datetime.fromisoformat(value)

cfg = CLIConfiguration()
cfg.setup(configure_file_logging=False)
results = {}
for name, spec in json.load(open(sys.argv[1])).items():
    table = cfg.mf.query(
        mf_request=MetricFlowQueryRequest.create(
            metric_names=spec["metrics"],
            group_by_names=spec["group_by"],
            time_constraint_start=when(spec.get("start")),
            time_constraint_end=when(spec.get("end")),
        )
    ).result_df
    results[name] = [
        {column: cell(value) for column, value in zip(table.column_names, row)}
        for row in table.rows
    ]
json.dump(results, open(sys.argv[2], "w"))
"""
REL_TOL = 1e-9


@dataclasses.dataclass
class Warehouse:
    adapter: str
    sql: Callable[[str], list[dict]]
    project_dir: Path
    env: dict[str, str]
    results: dict[str, list[dict]] = dataclasses.field(default_factory=dict)

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=self.project_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (
            f"{' '.join(args)}:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
        )
        return result

    def mf(self, *args: str) -> subprocess.CompletedProcess:
        return self.python(MF_CLI, *args)

    def run_queries(self) -> None:
        """Every family's query, with the cumulative metrics bounded to the data's dates."""
        (bounds,) = self.sql(
            "select min(report_date) as first_day, max(report_date) as last_day"
            " from marts.rpt_daily_kpis"
        )
        requests = {name: dict(spec) for name, spec in QUERIES.items()}
        requests["active"].update(start=str(bounds["first_day"]), end=str(bounds["last_day"]))
        requests_path = self.project_dir / "requests.json"
        results_path = self.project_dir / "results.json"
        requests_path.write_text(json.dumps(requests))
        self.python(MF_QUERIES, str(requests_path), str(results_path))
        self.results = json.loads(results_path.read_text())


def mf_project(
    adapter: str, work: Path, env: dict[str, str], sql: Callable[[str], list[dict]]
) -> Warehouse:
    """A scratch dbt project directory for MetricFlow: dbt_project.yml and this build's
    semantic manifest; runs every query once."""
    project = work / "mf_project"
    (project / "target").mkdir(parents=True)
    shutil.copy(REPO / "dbt_project.yml", project / "dbt_project.yml")
    shutil.copy(work / "target" / "semantic_manifest.json", project / "target")
    base = {
        **os.environ,
        "DBT_PROFILES_DIR": str(work / "profiles"),  # written by dbt_harness.run_dbt
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    warehouse = Warehouse(adapter, sql, project, {**base, **env})
    warehouse.run_queries()
    return warehouse


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("semantic_raw")
    generate(out_dir=raw, **SAMPLE)
    return raw


@pytest.fixture(scope="module")
def duckdb_warehouse(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    work = tmp_path_factory.mktemp("semantic_duckdb")
    path = build_duckdb(sample, work, BUILD)
    return mf_project(
        "duckdb",
        work,
        {"LPA_TARGET": "duckdb", "LPA_DUCKDB_PATH": str(path)},
        lambda sql: query_duckdb(path, sql),
    )


@pytest.fixture(scope="module")
def postgres_warehouse_(sample: Path, postgres_available: dict, tmp_path_factory):
    work = tmp_path_factory.mktemp("semantic_postgres")
    with postgres_warehouse(postgres_available, sample, work, BUILD) as params:
        yield mf_project(
            "postgres",
            work,
            {"LPA_TARGET": "postgres", **pg_env(params)},
            lambda sql: query_postgres(params, sql),
        )


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    name = "duckdb_warehouse" if request.param == "duckdb" else "postgres_warehouse_"
    return request.getfixturevalue(name)


def num(value: object) -> float | None:
    """A SQL number (PostgreSQL returns numeric and sum(bigint) as Decimal) as a float."""
    return None if value is None else float(value)  # type: ignore[arg-type]


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def day(value: object) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


# ---------------------------------------------------------------- configuration


def test_validate_configs_passes_with_warehouse_checks(warehouse: Warehouse) -> None:
    out = warehouse.mf("validate-configs").stdout
    for stage in (
        "validated the semantics of built manifest (ERRORS: 0",
        "validated semantic models against data warehouse (ERRORS: 0",
        "validated dimensions against data warehouse (ERRORS: 0",
        "validated entities against data warehouse (ERRORS: 0",
        "validated measures against data warehouse (ERRORS: 0",
        "validated metrics against data warehouse (ERRORS: 0",
    ):
        assert stage in out, out[-4000:]


def test_time_spine_covers_every_day_of_its_range(warehouse: Warehouse) -> None:
    (row,) = warehouse.sql(
        "select count(*) as days, count(distinct date_day) as distinct_days,"
        " min(date_day) as first_day, max(date_day) as last_day"
        " from marts.metricflow_time_spine"
    )
    expected_days = (SPINE_END - SPINE_START).days + 1
    assert row["days"] == row["distinct_days"] == expected_days
    assert (day(row["first_day"]), day(row["last_day"])) == (SPINE_START, SPINE_END)
    if warehouse.adapter == "postgres":
        # Readable by the BI role like the marts around it (var bi_reader_role default).
        (grant,) = warehouse.sql(
            "select has_table_privilege('bi_reader', 'marts.metricflow_time_spine', 'select')"
            " as can_select"
        )
        assert grant["can_select"] is True


# ---------------------------------------------------------------- metric families


def test_active_persons_match_daily_kpis(warehouse: Warehouse) -> None:
    kpis = {
        day(r["report_date"]): r
        for r in warehouse.sql("select * from marts.rpt_daily_kpis where app_id = 'all'")
    }
    got = {day(r["metric_time__day"]): r for r in warehouse.results["active"]}
    assert set(got) == set(kpis)
    assert sum(r["dau"] for r in kpis.values()) > 0
    for report_date, kpi in kpis.items():
        row = got[report_date]
        assert (row["active_persons"] or 0) == kpi["dau"], report_date
        assert (row["new_persons"] or 0) == kpi["new_persons"], report_date
        assert row["weekly_active_persons"] == kpi["wau"], report_date
        assert row["monthly_active_persons"] == kpi["mau"], report_date


def test_llm_metrics_match_messages(warehouse: Warehouse) -> None:
    expected = {
        day(r["message_date"]): r
        for r in warehouse.sql(
            "select message_date, count(*) as queries, sum(input_tokens) as input_tokens,"
            " sum(output_tokens) as output_tokens, sum(total_tokens) as total_tokens,"
            " sum(cost) as cost,"
            " sum(case when user_rating is not null then 1 else 0 end) as rated,"
            " sum(case when user_rating = 1 then 1 else 0 end) as liked"
            " from marts.fct_llm_messages group by message_date"
        )
    }
    kpi_queries = {
        day(r["report_date"]): r["query_count"]
        for r in warehouse.sql(
            "select report_date, query_count from marts.rpt_daily_kpis"
            " where app_id = 'all' and query_count > 0"
        )
    }
    rows = warehouse.results["llm"]
    got = {day(r["metric_time__day"]): r for r in rows}
    assert set(got) == set(expected) == set(kpi_queries)
    assert sum(num(r["rated"]) for r in expected.values()) > 0
    for message_date, exp in expected.items():
        row = got[message_date]
        assert row["queries"] == exp["queries"] == kpi_queries[message_date]
        assert row["input_tokens"] == num(exp["input_tokens"])
        assert row["output_tokens"] == num(exp["output_tokens"])
        assert row["total_tokens"] == num(exp["total_tokens"])
        assert close(row["llm_cost"], num(exp["cost"])), message_date
        rated, liked = num(exp["rated"]), num(exp["liked"])
        assert close(row["like_rate"], liked / rated if rated else None), message_date
        assert close(row["tokens_per_query"], num(exp["total_tokens"]) / exp["queries"])


def test_funnel_conversion_matches_the_funnel_mart(warehouse: Warehouse) -> None:
    steps = warehouse.sql(
        "select funnel_name, step_index, persons, persons_eligible_from_start,"
        " conversion_from_start from marts.rpt_funnel_conversion"
        " where breakdown_value = '(all)'"
    )
    rows = warehouse.results["funnel"]
    got = {r["funnel_progress__funnel_name"]: r for r in rows}
    assert set(got) == {s["funnel_name"] for s in steps}
    for name, row in got.items():
        funnel = sorted(
            (s for s in steps if s["funnel_name"] == name), key=lambda s: s["step_index"]
        )
        first, last = funnel[0], funnel[-1]
        assert row["funnel_entries"] == first["persons"]
        assert row["funnel_conversions"] == last["persons"] > 0
        assert row["funnel_decided_persons"] == last["persons_eligible_from_start"]
        assert close(row["funnel_conversion_rate"], num(last["conversion_from_start"]))


def test_retention_rate_matches_the_pooled_rows(warehouse: Warehouse) -> None:
    pooled = {
        (r["retention_kind"], r["period_label"]): r
        for r in warehouse.sql("select * from marts.rpt_retention where is_pooled")
    }
    rows = warehouse.results["retention"]
    got = {
        (r["retention_cohort__retention_kind"], r["retention_cohort__period_label"]): r
        for r in rows
    }
    assert set(got) == set(pooled)
    assert sum(r["retained_persons"] for r in pooled.values()) > 0
    for key, row in got.items():
        assert row["retention_retained_persons"] == pooled[key]["retained_persons"], key
        assert row["retention_eligible_persons"] == pooled[key]["eligible_persons"], key
        assert close(row["retention_rate"], num(pooled[key]["retention_rate"])), key


def test_experiment_exposure_matches_the_assignments(warehouse: Warehouse) -> None:
    expected = {
        (r["experiment_id"], r["variant"]): r
        for r in warehouse.sql(
            "select experiment_id, variant, count(distinct person_id) as persons,"
            " sum(case when is_included then 1 else 0 end) as included,"
            " sum(exposure_count) as exposures"
            " from marts.fct_experiment_assignments group by experiment_id, variant"
        )
    }
    rows = warehouse.results["experiments"]
    got = {
        (r["experiment_assignment__experiment_id"], r["experiment_assignment__variant"]): r
        for r in rows
    }
    assert set(got) == set(expected)
    assert len(expected) >= 4  # two exposure experiments, two arms each
    for key, row in got.items():
        assert row["experiment_exposed_persons"] == expected[key]["persons"], key
        assert row["experiment_included_persons"] == num(expected[key]["included"]), key
        assert row["experiment_exposures"] == num(expected[key]["exposures"]), key


def test_metrics_split_by_a_person_attribute(warehouse: Warehouse) -> None:
    """Joins through the person entity: activity and messages by dim_persons.first_platform."""
    expected = {
        r["first_platform"]: r
        for r in warehouse.sql(
            "select persons.first_platform,"
            " (select count(distinct activity.person_id)"
            "  from intermediate.int_persons__daily_activity as activity"
            "  inner join marts.dim_persons as p on activity.person_id = p.person_id"
            "  where p.first_platform is not distinct from persons.first_platform)"
            " as active_persons,"
            " (select count(*) from marts.fct_llm_messages as messages"
            "  inner join marts.dim_persons as p on messages.person_id = p.person_id"
            "  where p.first_platform is not distinct from persons.first_platform)"
            " as queries"
            " from (select distinct first_platform from marts.dim_persons) as persons"
        )
    }
    rows = warehouse.results["by_platform"]
    got = {r["person__first_platform"]: r for r in rows}
    assert len([p for p in got if p is not None]) >= 2
    for platform, row in got.items():
        assert row["active_persons"] == expected[platform]["active_persons"], platform
        assert (row["queries"] or 0) == expected[platform]["queries"], platform
    assert {p for p, e in expected.items() if e["active_persons"] or e["queries"]} == set(got)


def test_mf_query_cli_returns_the_mart_numbers(warehouse: Warehouse) -> None:
    """The `mf query` command itself (not only the Python API): queries and like rate by
    day, written as CSV, equal fct_llm_messages."""
    out = warehouse.project_dir / "mf_query.csv"
    warehouse.mf(
        "query",
        "--metrics",
        "queries,like_rate",
        "--group-by",
        "metric_time__day",
        "--csv",
        str(out),
    )
    with out.open() as f:
        got = {day(r["metric_time__day"][:10]): r for r in csv.DictReader(f)}
    expected = {
        day(r["message_date"]): r
        for r in warehouse.sql(
            "select message_date, count(*) as queries,"
            " sum(case when user_rating = 1 then 1 else 0 end) as liked,"
            " sum(case when user_rating is not null then 1 else 0 end) as rated"
            " from marts.fct_llm_messages group by message_date"
        )
    }
    assert set(got) == set(expected)
    for d, r in expected.items():
        assert int(float(got[d]["queries"])) == r["queries"]
        if r["rated"]:
            assert close(float(got[d]["like_rate"]), r["liked"] / r["rated"])
        else:
            assert got[d]["like_rate"] in ("", "None", "nan")
