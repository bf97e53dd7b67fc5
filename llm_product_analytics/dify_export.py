"""Export the winner of each concluded prompt experiment as a Dify model-config patch.

A prompt experiment is one whose variants in `marts.dim_experiment_variants` have
`assignment_source = 'dify_prompt_version'`: each variant is a saved Dify app model
configuration (`prompt_version_id` = `app_model_configs.id`) of the app `app_id`.

Concluded rule: every variant of the experiment has an `end_date` and the latest of them is
strictly before the as-of date (default: today in UTC). An open-ended experiment (an
`end_date` is null) or one ending on or after the as-of date is skipped: its last day may
still be collecting data.

Winner (decisions come from `marts.rpt_experiment_results`, one decision per treatment
variant):

* any variant `invalid_srm` -> action `none`, no patch: a sample ratio mismatch means the
  assignment is broken and no comparison is trustworthy;
* else the treatment variants with decision `ship`; several -> the highest
  `prob_beat_control` on the primary metric, ties broken by variant name -> action `apply`;
* else the control -> action `keep_current` (the file still carries the control's config so
  the app can be restored to it).

The patch is for Dify's console API (the endpoint the Dify web console calls when a prompt is
published; chat, agent-chat and completion apps only, workflow apps publish drafts instead)::

    POST {DIFY_CONSOLE}/console/api/apps/{app_id}/model-config
    Content-Type: application/json     (console session / access token auth)

    body = the `model_config` object of the file

Dify validates the body (`AppModelConfigService.validate_configuration`), stores it as a NEW
app_model_configs row (`AppModelConfig.from_model_config_dict`) and points the app at it, so
applying the patch creates a new prompt_version_id with the winner's content. The body keys
are those of `AppModelConfig.to_dict()` / `from_model_config_dict()` (langgenius/dify
`api/models/model.py`, `api/controllers/console/app/model_config.py`), mapped from the staged
columns below; JSON text columns are parsed. Keys whose column is null are left out so Dify
applies its own defaults, except `pre_prompt` (read unconditionally by Dify, sent as "").
`annotation_reply` is not part of an app model config row and is not sent.

Output: one `<experiment_id>.json` per concluded experiment with `app_id`, `experiment_id`,
`winner_variant`, `prompt_version_id`, `action`, `model_config`, `evidence` (the experiment's
rows of rpt_experiment_results) plus `control_variant`, `reason`, `as_of` and
`dify_endpoint`. Nothing is sent to Dify.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from llm_product_analytics.warehouse import Warehouse

DIFY_ENDPOINT = "POST /console/api/apps/{app_id}/model-config"
PROMPT_SOURCE = "dify_prompt_version"

# (body key of the Dify model-config request, staged column, column holds JSON text)
MODEL_CONFIG_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("model", "model_config", True),
    ("prompt_type", "prompt_type", False),
    ("pre_prompt", "pre_prompt", False),
    ("chat_prompt_config", "chat_prompt_config", True),
    ("completion_prompt_config", "completion_prompt_config", True),
    ("opening_statement", "opening_statement", False),
    ("suggested_questions", "suggested_questions", True),
    ("suggested_questions_after_answer", "suggested_questions_after_answer_config", True),
    ("speech_to_text", "speech_to_text_config", True),
    ("text_to_speech", "text_to_speech_config", True),
    ("retriever_resource", "retriever_resource_config", True),
    ("more_like_this", "more_like_this_config", True),
    ("sensitive_word_avoidance", "moderation_config", True),
    ("external_data_tools", "external_data_tools", True),
    ("user_input_form", "user_input_form", True),
    ("dataset_query_variable", "dataset_query_variable", False),
    ("agent_mode", "agent_mode_config", True),
    ("dataset_configs", "dataset_configs", True),
    ("file_upload", "file_upload_config", True),
)

EVIDENCE_COLUMNS = (
    "metric_name",
    "metric_role",
    "metric_kind",
    "variant",
    "control_variant",
    "n_control",
    "n_treatment",
    "mean_control",
    "mean_treatment",
    "absolute_lift",
    "absolute_lift_ci_lower",
    "absolute_lift_ci_upper",
    "relative_lift",
    "relative_lift_ci_lower",
    "relative_lift_ci_upper",
    "test_method",
    "p_value",
    "adjusted_p_value",
    "prob_beat_control",
    "srm_p_value",
    "achieved_power",
    "decision",
    "decision_reason",
)

VARIANTS_SQL = """
select
    experiment_id,
    variant,
    is_control,
    app_id,
    prompt_version_id,
    start_date,
    end_date
from marts.dim_experiment_variants
where assignment_source = ?
order by experiment_id, variant
"""

RESULTS_SQL = """
select {columns}
from marts.rpt_experiment_results
where experiment_id = ?
order by variant, case when metric_role = 'primary' then 0 else 1 end, metric_name
"""

CONFIG_SQL = """
select app_model_config_id, app_id, {columns}
from staging.stg_dify__app_model_configs
where app_model_config_id = ?
"""


class ConfigError(ValueError):
    """A staged app model config cannot be turned into a request body."""


@dataclass
class WinnerReport:
    """One experiment's outcome: written (with an action) or skipped."""

    experiment_id: str
    status: str  # 'written' | 'skipped'
    action: str | None = None
    winner_variant: str | None = None
    prompt_version_id: str | None = None
    app_id: str | None = None
    path: Path | None = None
    reason: str = ""

    def line(self) -> str:
        if self.status == "skipped":
            return f"{self.experiment_id}: skipped ({self.reason})"
        if self.action == "apply":
            what = (
                f"apply variant {self.winner_variant!r} "
                f"(app_model_config {self.prompt_version_id}) to app {self.app_id}"
            )
        elif self.action == "keep_current":
            what = f"keep current: control {self.winner_variant!r} stays ({self.reason})"
        else:
            what = f"no patch: {self.reason}"
        return f"{self.experiment_id}: {what} -> {self.path}"


# ------------------------------------------------------------------ pure helpers


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def concluded(variants: Sequence[dict[str, Any]], as_of: date) -> tuple[bool, str]:
    """(is concluded, why not): all variants have an end_date and the latest is < as_of."""
    ends = [_as_date(v["end_date"]) for v in variants]
    if not ends or any(end is None for end in ends):
        return False, "open-ended: end_date is null"
    last = max(ends)  # type: ignore[type-var]
    if last >= as_of:
        return False, f"not concluded: end_date {last} is not before as-of {as_of}"
    return True, ""


def _primary_pbc(rows: Sequence[dict[str, Any]], variant: str) -> float:
    values = [
        r["prob_beat_control"]
        for r in rows
        if r["variant"] == variant
        and r["metric_role"] == "primary"
        and r["prob_beat_control"] is not None
    ]
    return max(values) if values else float("-inf")


def pick_winner(
    results: Sequence[dict[str, Any]], control_variant: str | None
) -> tuple[str, str | None, str]:
    """(action, winner variant, reason) from the experiment's result rows."""
    if not results:
        return "none", None, "no rows in marts.rpt_experiment_results"
    decisions: dict[str, str] = {}
    for row in results:
        decisions.setdefault(row["variant"], row["decision"])
    srm = sorted(v for v, d in decisions.items() if d == "invalid_srm")
    if srm:
        p_values = sorted(
            {r["srm_p_value"] for r in results if r["variant"] in srm and r["srm_p_value"]}
        )
        detail = f" (srm_p_value {', '.join(f'{p:.3g}' for p in p_values)})" if p_values else ""
        return (
            "none",
            None,
            f"sample ratio mismatch on variant(s) {', '.join(srm)}{detail}: "
            "assignment is broken, no winner can be trusted",
        )
    ships = [v for v, d in decisions.items() if d == "ship"]
    if ships:
        winner = min(ships, key=lambda v: (-_primary_pbc(results, v), v))
        reason = f"decision 'ship' (prob_beat_control {_primary_pbc(results, winner):.3f})"
        if len(ships) > 1:
            reason += f"; best of shipping variants {', '.join(sorted(ships))}"
        return "apply", winner, reason
    control = control_variant or next((r["control_variant"] for r in results), None)
    summary = ", ".join(f"{v}={d}" for v, d in sorted(decisions.items()))
    return "keep_current", control, f"no treatment ships ({summary})"


def model_config_body(config_row: dict[str, Any]) -> dict[str, Any]:
    """The Dify model-config request body of one staged app model config."""
    body: dict[str, Any] = {}
    for key, column, is_json in MODEL_CONFIG_FIELDS:
        value = config_row.get(column)
        if value is not None and is_json and isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"app_model_config {config_row.get('app_model_config_id')}: column "
                    f"{column} is not valid JSON ({exc.msg})"
                ) from exc
        if value is None:
            if key == "pre_prompt":
                body[key] = ""
            continue
        body[key] = value
    return body


def _safe_file_name(experiment_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", experiment_id).strip("._") or "experiment"


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


# ------------------------------------------------------------------ warehouse + files


def export_prompt_winners(
    warehouse: Warehouse, out_dir: Path, as_of: date | None = None
) -> list[WinnerReport]:
    """Write one patch file per concluded prompt experiment; return one report each."""
    as_of = as_of or datetime.now(UTC).date()
    out_dir = Path(out_dir)
    variants_by_experiment: dict[str, list[dict[str, Any]]] = {}
    rows = warehouse.query(VARIANTS_SQL, [PROMPT_SOURCE])
    for row in sorted(rows, key=lambda r: (str(r["experiment_id"]), str(r["variant"]))):
        variants_by_experiment.setdefault(row["experiment_id"], []).append(row)

    reports = []
    for experiment_id, variants in variants_by_experiment.items():
        is_done, why_not = concluded(variants, as_of)
        if not is_done:
            reports.append(WinnerReport(experiment_id, "skipped", reason=why_not))
            continue
        reports.append(_export_one(warehouse, out_dir, experiment_id, variants, as_of))
    return reports


def _export_one(
    warehouse: Warehouse,
    out_dir: Path,
    experiment_id: str,
    variants: list[dict[str, Any]],
    as_of: date,
) -> WinnerReport:
    results = sorted(
        warehouse.query(RESULTS_SQL.format(columns=", ".join(EVIDENCE_COLUMNS)), [experiment_id]),
        # same order on both targets (PostgreSQL collations may sort text differently)
        key=lambda r: (str(r["variant"]), r["metric_role"] != "primary", str(r["metric_name"])),
    )
    control = next((v["variant"] for v in variants if v["is_control"]), None)
    action, winner, reason = pick_winner(results, control)
    by_variant = {v["variant"]: v for v in variants}
    app_ids = sorted({v["app_id"] for v in variants if v["app_id"]})
    winner_row = by_variant.get(winner) if winner else None
    app_id = (winner_row or {}).get("app_id") or (app_ids[0] if app_ids else None)
    prompt_version_id = (winner_row or {}).get("prompt_version_id")

    model_config = None
    if action != "none":
        if winner_row is None:
            action, reason = "none", f"winner {winner!r} is not in marts.dim_experiment_variants"
        elif not prompt_version_id:
            problem = f"variant {winner!r} has no prompt_version_id"
            action, reason = _missing_config(action, reason, problem)
        else:
            model_config, problem = _load_config(warehouse, prompt_version_id, app_id)
            if problem:
                action, reason = _missing_config(action, reason, problem)

    document = {
        "app_id": app_id,
        "experiment_id": experiment_id,
        "winner_variant": winner,
        "prompt_version_id": prompt_version_id if action != "none" else None,
        "action": action,
        "model_config": model_config,
        "evidence": results,
        "control_variant": control,
        "reason": reason,
        "as_of": as_of.isoformat(),
        "dify_endpoint": DIFY_ENDPOINT.format(app_id=app_id) if action == "apply" else None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{_safe_file_name(experiment_id)}.json"
    path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
        + "\n",
        encoding="utf-8",
    )
    return WinnerReport(
        experiment_id,
        "written",
        action=action,
        winner_variant=winner,
        prompt_version_id=document["prompt_version_id"],
        app_id=app_id,
        path=path,
        reason=reason,
    )


def _missing_config(action: str, reason: str, problem: str) -> tuple[str, str]:
    """No usable config: an `apply` cannot be written; `keep_current` needs no patch."""
    if action == "apply":
        return "none", f"{reason}, but {problem}"
    return action, f"{reason}; {problem}"


def _load_config(
    warehouse: Warehouse, prompt_version_id: str, app_id: str | None
) -> tuple[dict[str, Any] | None, str]:
    columns = ", ".join(column for _, column, _ in MODEL_CONFIG_FIELDS)
    rows = warehouse.query(CONFIG_SQL.format(columns=columns), [prompt_version_id])
    if not rows:
        return None, f"app_model_config {prompt_version_id} not in stg_dify__app_model_configs"
    row = rows[0]
    if app_id and row["app_id"] and str(row["app_id"]).lower() != str(app_id).lower():
        return None, (
            f"app_model_config {prompt_version_id} belongs to app {row['app_id']}, "
            f"not to the experiment's app {app_id}"
        )
    try:
        return model_config_body(row), ""
    except ConfigError as exc:
        return None, str(exc)
