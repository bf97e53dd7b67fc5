"""`lpa export-prompt-winner`: Dify model-config patches from a hand-built DuckDB warehouse."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from llm_product_analytics.cli import main
from llm_product_analytics.dify_export import MODEL_CONFIG_FIELDS, pick_winner
from llm_product_analytics.warehouse import pg_env

from warehouse_tables import create_duckdb, create_postgres

APP = "5b1c8e2a-0d3f-4a7e-9c61-2f8d4b7a1e90"
OTHER_APP = "9e7d6c5b-4a39-4281-b7f6-e5d4c3b2a190"
AS_OF = "2026-07-15"


def cfg(n: int) -> str:
    """app_model_config id number n (a uuid)."""
    return f"00000000-0000-4000-8000-{n:012d}"


# experiment_id, variant, is_control, source, app_id, prompt_version_id, start, end
VARIANTS = [
    # ships: two treatments tie at 0.99 on the primary metric, treat_b wins on name
    ("exp_ship", "control", True, "dify_prompt_version", APP, cfg(1), "2026-06-01", "2026-07-10"),
    ("exp_ship", "treat_a", False, "dify_prompt_version", APP, cfg(2), "2026-06-01", "2026-07-10"),
    ("exp_ship", "treat_b", False, "dify_prompt_version", APP, cfg(3), "2026-06-01", "2026-07-10"),
    ("exp_ship", "treat_c", False, "dify_prompt_version", APP, cfg(4), "2026-06-01", "2026-07-10"),
    # no treatment ships: keep the control
    ("exp_flat", "control", True, "dify_prompt_version", APP, cfg(1), "2026-06-01", "2026-07-01"),
    ("exp_flat", "shorter", False, "dify_prompt_version", APP, cfg(5), "2026-06-01", "2026-07-01"),
    # sample ratio mismatch: no patch even though the treatment "ships"
    ("exp_srm", "control", True, "dify_prompt_version", APP, cfg(1), "2026-06-01", "2026-07-02"),
    ("exp_srm", "bold", False, "dify_prompt_version", APP, cfg(6), "2026-06-01", "2026-07-02"),
    # not concluded: open-ended, ends on the as-of date, ends later
    ("exp_open", "control", True, "dify_prompt_version", APP, cfg(1), "2026-07-01", None),
    ("exp_open", "t", False, "dify_prompt_version", APP, cfg(7), "2026-07-01", None),
    ("exp_today", "control", True, "dify_prompt_version", APP, cfg(1), "2026-07-01", AS_OF),
    ("exp_today", "t", False, "dify_prompt_version", APP, cfg(7), "2026-07-01", AS_OF),
    # not a prompt experiment at all
    ("exp_button", "control", True, "exposure", None, None, "2026-06-01", "2026-06-30"),
    ("exp_button", "blue", False, "exposure", None, None, "2026-06-01", "2026-06-30"),
    # the shipping variant's config belongs to another app: refuse to patch
    ("exp_wrong", "control", True, "dify_prompt_version", APP, cfg(1), "2026-06-01", "2026-07-01"),
    ("exp_wrong", "t", False, "dify_prompt_version", APP, cfg(8), "2026-06-01", "2026-07-01"),
]

# experiment_id, variant, metric_name, metric_role, prob_beat_control, decision, srm_p_value
RESULTS = [
    ("exp_ship", "treat_a", "thumbs_up_rate", "primary", 0.97, "ship", 0.61),
    ("exp_ship", "treat_a", "latency_s", "guardrail", 0.40, "ship", 0.61),
    ("exp_ship", "treat_b", "thumbs_up_rate", "primary", 0.99, "ship", 0.61),
    ("exp_ship", "treat_b", "latency_s", "guardrail", 0.30, "ship", 0.61),
    ("exp_ship", "treat_c", "thumbs_up_rate", "primary", 0.99, "ship", 0.61),
    ("exp_ship", "treat_c", "latency_s", "guardrail", 0.999, "ship", 0.61),
    ("exp_flat", "shorter", "thumbs_up_rate", "primary", 0.62, "inconclusive", 0.44),
    ("exp_flat", "shorter", "latency_s", "guardrail", 0.70, "inconclusive", 0.44),
    ("exp_srm", "bold", "thumbs_up_rate", "primary", 0.995, "invalid_srm", 0.0001),
    ("exp_wrong", "t", "thumbs_up_rate", "primary", 0.98, "ship", 0.5),
]

CONFIG_COLUMNS = [column for _, column, _ in MODEL_CONFIG_FIELDS]


def _config_row(n: int, app_id: str = APP) -> dict:
    return {
        "app_model_config_id": cfg(n),
        "app_id": app_id,
        "model_provider": "langgenius/openai/openai",
        "model_name": "gpt-4o-mini",
        "model_config": json.dumps(
            {
                "provider": "langgenius/openai/openai",
                "name": "gpt-4o-mini",
                "mode": "chat",
                "completion_params": {"temperature": 0.2 + n / 10},
            }
        ),
        "prompt_type": "simple",
        "pre_prompt": f"You are support bot version {n}. Answer in {{{{language}}}}.",
        "chat_prompt_config": None,
        "completion_prompt_config": None,
        "opening_statement": f"Hi! (v{n})",
        "user_input_form": json.dumps(
            [{"text-input": {"label": "Language", "variable": "language", "required": False}}]
        ),
        "agent_mode_config": json.dumps({"enabled": False, "tools": []}),
        "dataset_configs": json.dumps({"retrieval_model": "multiple"}),
        "dataset_query_variable": None,
        "external_data_tools": "[]",
        "file_upload_config": None,
        "moderation_config": json.dumps({"enabled": False}),
        "suggested_questions": json.dumps(["How do I rotate my API key?"]),
        "suggested_questions_after_answer_config": json.dumps({"enabled": True}),
        "speech_to_text_config": None,
        "text_to_speech_config": None,
        "more_like_this_config": None,
        "retriever_resource_config": json.dumps({"enabled": True}),
    }


def _create_tables(execute: Callable[..., object]) -> None:
    """The input tables, through `execute(sql, params)` (`?` placeholders, portable DDL)."""
    execute("create schema marts")
    execute("create schema staging")
    execute(
        """
        create table marts.dim_experiment_variants (
            experiment_id text, variant text, is_control boolean, planned_weight float8,
            assignment_source text, flag_key text, app_id text, prompt_version_id text,
            start_date date, end_date date, hypothesis text
        )
        """
    )
    for exp, variant, control, source, app, version, start, end in VARIANTS:
        execute(
            "insert into marts.dim_experiment_variants values (?, ?, ?, 0.5, ?, ?, ?, ?, ?, ?, ?)",
            [exp, variant, control, source, f"flag_{exp}", app, version, start, end, "h"],
        )
    execute(
        """
        create table marts.rpt_experiment_results (
            experiment_id text, metric_name text, metric_role text, metric_kind text,
            variant text, control_variant text, n_control bigint, n_treatment bigint,
            mean_control float8, mean_treatment float8, absolute_lift float8,
            absolute_lift_ci_lower float8, absolute_lift_ci_upper float8, relative_lift float8,
            relative_lift_ci_lower float8, relative_lift_ci_upper float8, test_method text,
            p_value float8, adjusted_p_value float8, prob_beat_control float8,
            srm_p_value float8, achieved_power float8, decision text, decision_reason text
        )
        """
    )
    for exp, variant, metric, role, pbc, decision, srm in RESULTS:
        execute(
            "insert into marts.rpt_experiment_results values (?, ?, ?, 'proportion', ?, "
            "'control', 1000, 1010, 0.30, 0.33, 0.03, 0.01, 0.05, 0.1, 0.03, 0.17, 'z_test', "
            "0.004, 0.008, ?, ?, 0.81, ?, 'reason text')",
            [exp, metric, role, variant, pbc, srm, decision],
        )
    # relative lift undefined for one guardrail row: NaN must come out as JSON null
    execute(
        "update marts.rpt_experiment_results set relative_lift = 'nan'::float8 "
        "where experiment_id = 'exp_flat' and metric_name = 'latency_s'"
    )
    columns = ["app_model_config_id", "app_id", "model_provider", "model_name", *CONFIG_COLUMNS]
    execute(
        "create table staging.stg_dify__app_model_configs ("
        + ", ".join(f"{c} text" for c in columns)
        + ", created_at timestamp)"
    )
    rows = [_config_row(n) for n in range(1, 8)] + [_config_row(8, app_id=OTHER_APP)]
    for row in rows:
        execute(
            f"insert into staging.stg_dify__app_model_configs values "
            f"({', '.join('?' for _ in columns)}, timestamp '2026-05-01 08:00:00')",
            [row[c] for c in columns],
        )


def _create_warehouse(path: Path) -> Path:
    return create_duckdb(path, _create_tables)


def _create_postgres(params: dict[str, str]) -> None:
    create_postgres(params, _create_tables)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("dify_export")
    warehouse = _create_warehouse(tmp / "warehouse.duckdb")
    out = tmp / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "export-prompt-winner",
                "--duckdb-path",
                str(warehouse),
                "--as-of",
                AS_OF,
                "--out",
                str(out),
            ]
        )
    assert code == 0
    return out, stdout.getvalue()


def _doc(out: Path, experiment_id: str) -> dict:
    return json.loads((out / f"{experiment_id}.json").read_text())


def test_ship_case_applies_best_shipping_variant(exported) -> None:
    out, printed = exported
    doc = _doc(out, "exp_ship")
    assert doc["action"] == "apply"
    assert doc["winner_variant"] == "treat_b"  # 0.99 beats 0.97; tie with treat_c by name
    assert doc["prompt_version_id"] == cfg(3)
    assert doc["app_id"] == APP
    assert doc["experiment_id"] == "exp_ship"
    assert doc["dify_endpoint"] == f"POST /console/api/apps/{APP}/model-config"
    assert f"exp_ship: apply variant 'treat_b' (app_model_config {cfg(3)})" in printed


def test_patch_holds_the_dify_model_config_body(exported) -> None:
    out, _ = exported
    config = _doc(out, "exp_ship")["model_config"]
    assert config["pre_prompt"] == "You are support bot version 3. Answer in {{language}}."
    assert config["model"] == {
        "provider": "langgenius/openai/openai",
        "name": "gpt-4o-mini",
        "mode": "chat",
        "completion_params": {"temperature": 0.5},
    }
    assert config["prompt_type"] == "simple"
    assert config["opening_statement"] == "Hi! (v3)"
    assert config["user_input_form"][0]["text-input"]["variable"] == "language"
    assert config["suggested_questions"] == ["How do I rotate my API key?"]
    assert config["suggested_questions_after_answer"] == {"enabled": True}
    assert config["sensitive_word_avoidance"] == {"enabled": False}
    assert config["agent_mode"] == {"enabled": False, "tools": []}
    assert config["retriever_resource"] == {"enabled": True}
    assert config["external_data_tools"] == []
    # null columns are left to Dify's defaults; staged names never leak into the body
    for absent in ("chat_prompt_config", "file_upload", "speech_to_text", "more_like_this"):
        assert absent not in config
    assert not set(config) & {"model_config", "moderation_config", "app_model_config_id"}
    assert set(config) <= {key for key, _, _ in MODEL_CONFIG_FIELDS}


def test_evidence_lists_every_result_row(exported) -> None:
    out, _ = exported
    evidence = _doc(out, "exp_ship")["evidence"]
    assert len(evidence) == 6
    assert evidence[0]["variant"] == "treat_a" and evidence[0]["metric_role"] == "primary"
    for key in (
        "metric_name",
        "metric_role",
        "absolute_lift",
        "absolute_lift_ci_lower",
        "relative_lift_ci_upper",
        "p_value",
        "adjusted_p_value",
        "prob_beat_control",
        "decision",
    ):
        assert key in evidence[0]
    assert evidence[0]["adjusted_p_value"] == 0.008


def test_no_ship_keeps_current_control(exported) -> None:
    out, printed = exported
    doc = _doc(out, "exp_flat")
    assert doc["action"] == "keep_current"
    assert doc["winner_variant"] == "control"
    assert doc["prompt_version_id"] == cfg(1)
    assert doc["model_config"]["opening_statement"] == "Hi! (v1)"
    assert doc["dify_endpoint"] is None
    guardrail = [r for r in doc["evidence"] if r["metric_name"] == "latency_s"][0]
    assert guardrail["relative_lift"] is None  # NaN in the warehouse
    assert "exp_flat: keep current" in printed


def test_srm_writes_no_patch_and_says_why(exported) -> None:
    out, printed = exported
    doc = _doc(out, "exp_srm")
    assert doc["action"] == "none"
    assert doc["model_config"] is None
    assert doc["winner_variant"] is None
    assert doc["prompt_version_id"] is None
    assert "sample ratio mismatch" in doc["reason"]
    assert len(doc["evidence"]) == 1
    assert "exp_srm: no patch: sample ratio mismatch on variant(s) bold" in printed


def test_config_of_another_app_is_refused(exported) -> None:
    out, _ = exported
    doc = _doc(out, "exp_wrong")
    assert doc["action"] == "none"
    assert doc["model_config"] is None
    assert OTHER_APP in doc["reason"]


def test_unconcluded_and_non_prompt_experiments_are_skipped(exported) -> None:
    out, printed = exported
    assert sorted(p.stem for p in out.glob("*.json")) == [
        "exp_flat",
        "exp_ship",
        "exp_srm",
        "exp_wrong",
    ]
    assert "exp_open: skipped (open-ended" in printed
    assert f"exp_today: skipped (not concluded: end_date {AS_OF}" in printed
    assert "exp_button" not in printed


def test_every_file_is_strict_json_with_the_documented_keys(exported) -> None:
    out, _ = exported

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not valid JSON")

    for path in out.glob("*.json"):
        doc = json.loads(path.read_text(), parse_constant=no_constants)
        assert {
            "app_id",
            "experiment_id",
            "winner_variant",
            "prompt_version_id",
            "action",
            "model_config",
            "evidence",
        } <= set(doc)
        assert doc["action"] in {"apply", "keep_current", "none"}


def test_tie_break_prefers_variant_name_and_ignores_guardrails() -> None:
    rows = [
        {"variant": "b", "metric_role": "primary", "prob_beat_control": 0.9, "decision": "ship"},
        {"variant": "a", "metric_role": "primary", "prob_beat_control": 0.9, "decision": "ship"},
        {"variant": "c", "metric_role": "guardrail", "prob_beat_control": 1.0, "decision": "ship"},
        {"variant": "c", "metric_role": "primary", "prob_beat_control": 0.8, "decision": "ship"},
    ]
    action, winner, _ = pick_winner(rows, "control")
    assert (action, winner) == ("apply", "a")
    assert pick_winner([], "control")[0] == "none"


def test_as_of_defaults_to_today_utc(tmp_path, capsys) -> None:
    warehouse = _create_warehouse(tmp_path / "w.duckdb")
    args = ["export-prompt-winner", "--duckdb-path", str(warehouse), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    today = datetime.now(UTC).date()
    assert "exp_open: skipped (open-ended" in printed
    if today > date.fromisoformat(AS_OF):  # exp_today has ended; it has no result rows
        assert "exp_today: no patch: no rows in marts.rpt_experiment_results" in printed
    else:
        assert "exp_today: skipped (not concluded" in printed


def test_postgres_target_gives_the_same_files(
    fresh_database, exported, tmp_path, monkeypatch, capsys
) -> None:
    _create_postgres(fresh_database)
    for var, value in pg_env(fresh_database).items():
        monkeypatch.setenv(var, value)
    out = tmp_path / "pg_out"
    args = ["export-prompt-winner", "--target", "postgres", "--as-of", AS_OF, "--out", str(out)]
    assert main(args) == 0
    duckdb_out, _ = exported
    names = sorted(p.name for p in duckdb_out.glob("*.json"))
    assert sorted(p.name for p in out.glob("*.json")) == names
    for name in names:
        assert json.loads((out / name).read_text()) == json.loads((duckdb_out / name).read_text())
