"""The manifest quality gate (llm_product_analytics.manifest_check) and the exposures.

The real project, parsed on DuckDB, must have no violation; each rule must fire on a doctored
copy of that manifest.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from llm_product_analytics.manifest_check import Violation, check_manifest, main

from dbt_harness import run_dbt

P = "llm_product_analytics"
EXPOSURES = {
    "lpa_html_report",
    "product_kpis_dashboard",
    "funnels_dashboard",
    "experiments_dashboard",
    "llm_quality_dashboard",
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    """`dbt parse` and `dbt ls --resource-type exposure` on DuckDB into a private target."""
    work = tmp_path_factory.mktemp("manifest_check")
    raw = work / "raw"
    raw.mkdir()
    run_dbt(["parse"], target="duckdb", raw_path=raw, work_dir=work)
    listed = run_dbt(
        ["ls", "--resource-type", "exposure", "--output", "name", "--quiet"],
        target="duckdb",
        raw_path=raw,
        work_dir=work,
    )
    path = work / "target" / "manifest.json"
    return {
        "path": path,
        "manifest": json.loads(path.read_text()),
        "listed": set(listed.stdout.split()),
    }


@pytest.fixture
def manifest(parsed) -> dict:
    """A fresh copy to doctor."""
    return copy.deepcopy(parsed["manifest"])


def _find_test(manifest: dict, model: str, name: str, column: str | None = None) -> str:
    for uid, node in manifest["nodes"].items():
        if (
            node["resource_type"] == "test"
            and node.get("attached_node") == f"model.{P}.{model}"
            and (node.get("test_metadata") or {}).get("name") == name
            and node.get("column_name") == column
        ):
            return uid
    raise AssertionError(f"no {name} test on {model}.{column}")


# ---------------------------------------------------------------- the real project


def test_project_manifest_has_no_violations(parsed, capsys):
    assert check_manifest(parsed["manifest"]) == []
    assert main([str(parsed["path"])]) == 0
    assert capsys.readouterr().out == ""


def test_project_manifest_covers_the_project(parsed):
    """The check sees the project's nodes (not an empty or foreign manifest)."""
    nodes = parsed["manifest"]["nodes"].values()
    models = {n["name"] for n in nodes if n["resource_type"] == "model"}
    assert {
        "fct_events",
        "rpt_daily_kpis",
        "rpt_experiment_results",
        "stg_dify__messages",
    } <= models
    assert any(n["resource_type"] == "model" and n["language"] == "python" for n in nodes), (
        "on DuckDB rpt_experiment_results is the Python model"
    )


def test_exposures_are_listed_and_resolve_to_models(parsed):
    manifest = parsed["manifest"]
    exposures = {e["name"]: e for e in manifest["exposures"].values() if e["package_name"] == P}
    assert set(exposures) == EXPOSURES
    assert parsed["listed"] == EXPOSURES
    for name, exposure in exposures.items():
        deps = exposure["depends_on"]["nodes"]
        assert deps, name
        for dep in deps:
            assert dep in manifest["nodes"], f"{name}: {dep} is not in the manifest"
            assert manifest["nodes"][dep]["resource_type"] == "model", f"{name}: {dep}"
            assert manifest["nodes"][dep]["config"]["schema"] == "marts", f"{name}: {dep}"
        assert exposure["owner"]["email"] == "analytics@example.com"
        assert exposure["maturity"] in {"low", "medium", "high"}
    report = exposures["lpa_html_report"]
    assert f"model.{P}.rpt_experiment_results" in report["depends_on"]["nodes"]
    assert exposures["experiments_dashboard"]["type"] == "dashboard"


def test_metric_docs_blocks_are_reused(parsed):
    """A definition written once in a docs block renders identically on every model."""
    nodes = parsed["manifest"]["nodes"]
    docs = parsed["manifest"]["docs"]
    assert f"doc.{P}.__overview__" in docs
    block = docs[f"doc.{P}.funnel_conversion_from_start"]["block_contents"].strip()
    for model in ("rpt_funnel_conversion", "rpt_funnel_trends"):
        column = nodes[f"model.{P}.{model}"]["columns"]["conversion_from_start"]
        assert column["description"].strip() == block
    kpi = nodes[f"model.{P}.rpt_daily_kpis"]["columns"]["mau"]["description"]
    assert "kpis.mau_days" in kpi and "inclusive" in kpi


# ---------------------------------------------------------------- each rule can fail


def _violations(manifest: dict, rule: str, node: str) -> list[str]:
    return [v.message for v in check_manifest(manifest) if v.rule == rule and v.node == node]


def test_missing_model_description(manifest):
    manifest["nodes"][f"model.{P}.fct_events"]["description"] = "  "
    assert _violations(manifest, "description", f"model.{P}.fct_events") == [
        "model has no description"
    ]


def test_missing_column_description(manifest):
    manifest["nodes"][f"model.{P}.dim_persons"]["columns"]["event_count"]["description"] = ""
    assert _violations(manifest, "column-description", f"model.{P}.dim_persons") == [
        "column `event_count` has no description"
    ]


def test_missing_seed_and_source_descriptions(manifest):
    manifest["nodes"][f"seed.{P}.event_aliases"]["description"] = ""
    source = manifest["sources"][f"source.{P}.dify.messages"]
    source["columns"][next(iter(source["columns"]))]["description"] = ""
    for table in manifest["sources"].values():
        if table["source_name"] == "amplitude":
            table["source_description"] = ""
    found = {str(v) for v in check_manifest(manifest)}
    first = next(iter(source["columns"]))
    assert found == {
        f"description: seed.{P}.event_aliases: seed has no description",
        f"column-description: source.{P}.dify.messages: column `{first}` has no description",
        f"description: source.{P}.amplitude: source has no description",
    }


def test_dropped_primary_key_tests(manifest):
    del manifest["nodes"][_find_test(manifest, "fct_events", "unique", "event_id")]
    del manifest["nodes"][_find_test(manifest, "fct_sessions", "not_null", "session_key")]
    assert _violations(manifest, "primary-key", f"model.{P}.fct_events") == [
        "primary key `event_id` has no unique test"
    ]
    assert _violations(manifest, "primary-key", f"model.{P}.fct_sessions") == [
        "primary key `session_key` has no not_null test"
    ]


def test_scoped_or_warning_key_tests_do_not_count(manifest):
    manifest["nodes"][_find_test(manifest, "dim_persons", "unique", "person_id")]["config"][
        "where"
    ] = "is_identified"
    manifest["nodes"][_find_test(manifest, "fct_llm_messages", "not_null", "message_id")]["config"][
        "severity"
    ] = "warn"
    assert _violations(manifest, "primary-key", f"model.{P}.dim_persons") == [
        "primary key `person_id` has no unique test"
    ]
    assert _violations(manifest, "primary-key", f"model.{P}.fct_llm_messages") == [
        "primary key `message_id` has no not_null test"
    ]


def test_composite_primary_key(manifest):
    model = "dim_experiment_variants"
    del manifest["nodes"][_find_test(manifest, model, "unique_combination_of_columns")]
    del manifest["nodes"][_find_test(manifest, "dim_experiment_metrics", "not_null", "metric_name")]
    # Without its combination test the key falls back to the first column, which is not unique.
    assert _violations(manifest, "primary-key", f"model.{P}.{model}") == [
        "primary key `experiment_id` has no unique test"
    ]
    assert _violations(manifest, "primary-key", f"model.{P}.dim_experiment_metrics") == [
        "primary key column `metric_name` has no not_null test"
        " (or list it in meta.nullable_key_columns)"
    ]


def test_nullable_key_column_must_be_declared(manifest):
    seed = manifest["nodes"][f"seed.{P}.event_aliases"]
    assert seed["config"]["meta"].pop("nullable_key_columns") == ["platform"]
    seed["meta"].pop("nullable_key_columns", None)
    assert _violations(manifest, "primary-key", f"seed.{P}.event_aliases") == [
        "primary key column `platform` has no not_null test"
        " (or list it in meta.nullable_key_columns)"
    ]


def test_declared_primary_key_wins(manifest):
    node = manifest["nodes"][f"model.{P}.rpt_daily_kpis"]
    node["config"]["meta"]["primary_key"] = ["report_date", "app_id", "dau"]
    assert _violations(manifest, "primary-key", f"model.{P}.rpt_daily_kpis") == [
        "composite primary key (report_date, app_id, dau) has no unique_combination_of_columns"
        " test over exactly those columns"
    ]


def test_disabled_contract_on_public_mart(manifest):
    manifest["nodes"][f"model.{P}.rpt_funnel_conversion"]["config"]["contract"]["enforced"] = False
    del manifest["nodes"][f"model.{P}.fct_events"]["columns"]["event_date"]["data_type"]
    assert _violations(manifest, "contract", f"model.{P}.rpt_funnel_conversion") == [
        "public model without an enforced contract"
    ]
    assert _violations(manifest, "contract", f"model.{P}.fct_events") == [
        "contracted column `event_date` has no data_type"
    ]


def test_public_model_outside_marts(manifest):
    node = manifest["nodes"][f"model.{P}.stg_dify__messages"]
    node["config"]["access"] = "public"
    node["access"] = "public"
    assert _violations(manifest, "contract", f"model.{P}.stg_dify__messages") == [
        "public model outside models/marts/",
        "public model without an enforced contract",
    ]


def test_source_ref_outside_staging(manifest):
    manifest["nodes"][f"model.{P}.rpt_daily_kpis"]["sources"] = [["dify", "messages"]]
    assert _violations(manifest, "source-ref", f"model.{P}.rpt_daily_kpis") == [
        "source() outside models/staging: dify.messages"
    ]
    staging = manifest["nodes"][f"model.{P}.base_dify__messages"]
    assert staging["sources"], "staging models do read sources, and that is allowed"
    assert _violations(manifest, "source-ref", f"model.{P}.base_dify__messages") == []


def test_incomplete_exposure(manifest):
    exposure = manifest["exposures"][f"exposure.{P}.funnels_dashboard"]
    exposure["owner"]["email"] = None
    exposure["depends_on"]["nodes"].append(f"source.{P}.dify.messages")
    assert _violations(manifest, "exposure", f"exposure.{P}.funnels_dashboard") == [
        f"depends on `source.{P}.dify.messages`, not a model of {P}",
        "exposure owner needs a name and an email",
    ]


def test_catalog_columns_missing_from_yml(manifest):
    uid = f"model.{P}.dim_persons"
    columns = {
        name: {"name": name, "type": "VARCHAR"} for name in manifest["nodes"][uid]["columns"]
    }
    catalog = {"nodes": {uid: {"columns": dict(columns)}}, "sources": {}}
    assert check_manifest(manifest, catalog) == []
    catalog["nodes"][uid]["columns"]["SECRET_COLUMN"] = {"name": "SECRET_COLUMN"}
    assert check_manifest(manifest, catalog) == [
        Violation(
            "undocumented-column",
            uid,
            "column `secret_column` is in the relation but not in the yml",
        )
    ]


def test_cli_prints_one_line_per_violation_and_fails(manifest, tmp_path: Path, capsys):
    manifest["nodes"][f"model.{P}.fct_events"]["description"] = ""
    manifest["nodes"][f"model.{P}.fct_workflow_runs"]["sources"] = [["dify", "workflow_runs"]]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    assert main([str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"description: model.{P}.fct_events: model has no description",
        f"source-ref: model.{P}.fct_workflow_runs: source() outside models/staging: "
        "dify.workflow_runs",
    ]
