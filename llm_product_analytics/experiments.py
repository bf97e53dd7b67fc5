"""rpt_experiment_results from the experiment marts: one row per experiment, metric and
treatment variant against the control. Called by the dbt Python model on DuckDB; the
PostgreSQL SQL twin (models/marts/experiments/rpt_experiment_results.sql) implements the
same rules, and the parity test holds them to a stated tolerance.

Decision rules, per experiment and treatment variant (the same value on all its rows):
1. `invalid_srm` when the sample-ratio-mismatch p-value is below SRM_ALPHA (0.001): the
   split is broken, no metric can be trusted.
2. `no_ship` when a primary metric is significantly worse (adjusted p < alpha) or a
   guardrail metric is significantly worse (unadjusted p < alpha).
3. `ship` when a primary metric is significantly better (adjusted p < alpha).
4. `inconclusive` otherwise.
"Better" follows the metric's higher_is_better.
"""

from __future__ import annotations

import math

import pandas as pd

from llm_product_analytics import stats

SRM_ALPHA = 0.001

RESULT_COLUMNS = [
    "result_id",
    "experiment_id",
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
    "absolute_lift_std_error",
    "absolute_lift_ci_lower",
    "absolute_lift_ci_upper",
    "relative_lift",
    "relative_lift_ci_lower",
    "relative_lift_ci_upper",
    "test_method",
    "test_statistic",
    "degrees_of_freedom",
    "p_value",
    "undefined_reason",
    "mann_whitney_p_value",
    "effect_size",
    "effect_size_method",
    "cuped_absolute_lift",
    "cuped_ci_lower",
    "cuped_ci_upper",
    "cuped_p_value",
    "adjusted_p_value",
    "adjustment_method",
    "prob_beat_control",
    "srm_p_value",
    "achieved_power",
    "alpha",
    "included_persons",
    "excluded_persons",
    "decision",
    "decision_reason",
]


def _none(value):
    """NaN / pandas NA -> None, numpy scalars -> Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _arm(row) -> stats.ArmSummary:
    n = int(row["n"])
    var = _none(row["variance_value"])
    return stats.ArmSummary(n, _none(row["mean_value"]), var if var is not None else 0.0)


def _ratio_arm(row) -> stats.RatioArmSummary:
    n = int(row["n"])
    d = max(n - 1, 1)
    return stats.RatioArmSummary(
        n,
        (_none(row["sum_value"]) or 0.0) / n if n else float("nan"),
        (_none(row["sum_denominator"]) or 0.0) / n if n else float("nan"),
        (_none(row["m2_value"]) or 0.0) / d,
        (_none(row["m2_denominator"]) or 0.0) / d,
        (_none(row["c_value_denominator"]) or 0.0) / d,
    )


def _arm_mean_se(kind: str, row) -> tuple[float | None, float | None]:
    """The arm's metric value and its standard error (kind-specific)."""
    n = int(row["n"])
    if n == 0:
        return None, None
    if kind == "ratio":
        arm = _ratio_arm(row)
        if arm.mean_den == 0:
            return None, None
        var = stats.ratio_variance(arm)
        return arm.mean_num / arm.mean_den, (math.sqrt(var) if var is not None else None)
    mean = _none(row["mean_value"])
    if kind == "proportion":
        return mean, math.sqrt(mean * (1 - mean) / n)
    var = _none(row["variance_value"])
    return mean, (math.sqrt(var / n) if var is not None else None)


def _compare(kind: str, c, t, alpha: float) -> stats.Comparison:
    if kind == "mean":
        return stats.welch_t_test(_arm(c), _arm(t), alpha)
    if kind == "proportion":
        return stats.two_proportion_z_test(
            _none(c["sum_value"]), int(c["n"]), _none(t["sum_value"]), int(t["n"]), alpha
        )
    return stats.ratio_delta_test(_ratio_arm(c), _ratio_arm(t), alpha)


def _cuped(c, t, alpha: float) -> stats.Comparison | None:
    if _none(c["mean_pre"]) is None or _none(t["mean_pre"]) is None:
        return None

    def pre(row) -> tuple[stats.ArmSummary, float]:
        d = max(int(row["n"]) - 1, 1)
        arm = stats.ArmSummary(int(row["n"]), _none(row["mean_pre"]), _none(row["m2_pre"]) / d)
        return arm, _none(row["c_value_pre"]) / d

    (c_pre, c_cov), (t_pre, t_cov) = pre(c), pre(t)
    return stats.cuped_welch_test(_arm(c), _arm(t), c_pre, t_pre, c_cov, t_cov, alpha)


def _effect_size(kind: str, c, t) -> stats.EffectSize:
    if kind == "mean":
        return stats.cohens_d(_arm(c), _arm(t))
    if kind == "proportion":
        if int(c["n"]) == 0 or int(t["n"]) == 0:
            return stats.EffectSize(None, "cohens_h", "an arm is empty")
        return stats.cohens_h(_none(c["mean_value"]), _none(t["mean_value"]))
    return stats.EffectSize(None, "none", "no standardised effect size for a ratio metric")


def compute_results(
    summaries: pd.DataFrame,
    metrics: pd.DataFrame,
    variants: pd.DataFrame,
    assignments: pd.DataFrame,
    person_metrics: pd.DataFrame,
) -> pd.DataFrame:
    """The rpt_experiment_results table from the dbt relations of the same names."""
    rows = []
    for (experiment_id, metric_name), arms in summaries.groupby(
        ["experiment_id", "metric_name"], sort=True
    ):
        metric = metrics[
            (metrics["experiment_id"] == experiment_id) & (metrics["metric_name"] == metric_name)
        ].iloc[0]
        config = variants[variants["experiment_id"] == experiment_id]
        control_name = config[config["is_control"]]["variant"].iloc[0]
        alpha = float(config["alpha"].iloc[0])
        kind = metric["metric_kind"]
        higher_is_better = bool(metric["is_higher_better"])
        c = arms[arms["variant"] == control_name].iloc[0]
        for _, t in arms[arms["variant"] != control_name].sort_values("variant").iterrows():
            rows.append(
                _result_row(
                    experiment_id,
                    metric,
                    kind,
                    control_name,
                    c,
                    t,
                    alpha,
                    higher_is_better,
                    float(config["minimum_detectable_effect"].iloc[0]),
                    person_metrics,
                )
            )
    _experiment_level(rows, variants, assignments)
    for row in rows:
        row["result_id"] = f"{row['experiment_id']}|{row['metric_name']}|{row['variant']}"
    out = pd.DataFrame({c: [r.get(c) for r in rows] for c in RESULT_COLUMNS})
    out = out.astype({c: _dtype(c) for c in RESULT_COLUMNS})
    return out.sort_values(["experiment_id", "metric_name", "variant"]).reset_index(drop=True)


STRING_COLUMNS = {
    "result_id",
    "experiment_id",
    "metric_name",
    "metric_role",
    "metric_kind",
    "variant",
    "control_variant",
    "test_method",
    "undefined_reason",
    "effect_size_method",
    "adjustment_method",
    "decision",
    "decision_reason",
}
INTEGER_COLUMNS = {"n_control", "n_treatment", "included_persons", "excluded_persons"}


def _dtype(column: str) -> str:
    """Nullable dtypes, so a missing value lands as NULL (not NaN) in the warehouse."""
    if column in STRING_COLUMNS:
        return "string"
    return "Int64" if column in INTEGER_COLUMNS else "Float64"


def _result_row(experiment_id, metric, kind, control_name, c, t, alpha, higher, mde, pm):
    comp = _compare(kind, c, t, alpha)
    mean_c, se_c = _arm_mean_se(kind, c)
    mean_t, se_t = _arm_mean_se(kind, t)
    rel = stats.relative_lift(mean_c, se_c, mean_t, se_t, alpha, comp.df)
    effect = _effect_size(kind, c, t)
    cuped = _cuped(c, t, alpha) if kind != "ratio" else None
    mw = None
    if kind == "mean":
        sel = (pm["experiment_id"] == experiment_id) & (pm["metric_name"] == metric["metric_name"])
        values = pm[sel]
        mw = stats.mann_whitney(
            values[values["variant"] == control_name]["metric_value"].to_numpy(float),
            values[values["variant"] == t["variant"]]["metric_value"].to_numpy(float),
        ).p_value
    power = (
        stats.power_two_sided(mde * abs(mean_c), comp.std_error, alpha)
        if mean_c is not None
        else None
    )
    return {
        "experiment_id": experiment_id,
        "metric_name": metric["metric_name"],
        "metric_role": metric["metric_role"],
        "metric_kind": kind,
        "variant": t["variant"],
        "control_variant": control_name,
        "n_control": int(c["n"]),
        "n_treatment": int(t["n"]),
        "mean_control": mean_c,
        "mean_treatment": mean_t,
        "absolute_lift": comp.estimate,
        "absolute_lift_std_error": comp.std_error,
        "absolute_lift_ci_lower": comp.ci_lower,
        "absolute_lift_ci_upper": comp.ci_upper,
        "relative_lift": rel.estimate,
        "relative_lift_ci_lower": rel.ci_lower,
        "relative_lift_ci_upper": rel.ci_upper,
        "test_method": comp.method,
        "test_statistic": comp.statistic,
        "degrees_of_freedom": comp.df,
        "p_value": comp.p_value,
        "undefined_reason": comp.reason,
        "mann_whitney_p_value": mw,
        "effect_size": effect.value,
        "effect_size_method": effect.method,
        "cuped_absolute_lift": cuped.estimate if cuped else None,
        "cuped_ci_lower": cuped.ci_lower if cuped else None,
        "cuped_ci_upper": cuped.ci_upper if cuped else None,
        "cuped_p_value": cuped.p_value if cuped else None,
        "prob_beat_control": stats.prob_beat_control(comp.estimate, comp.std_error, higher),
        "achieved_power": power,
        "alpha": alpha,
        "_higher_is_better": higher,
    }


def _experiment_level(rows: list[dict], variants: pd.DataFrame, assignments: pd.DataFrame):
    """Adjusted p-values, SRM, person counts and the decision: per experiment (in place)."""
    for experiment_id in sorted({r["experiment_id"] for r in rows}):
        mine_rows = [r for r in rows if r["experiment_id"] == experiment_id]
        config = variants[variants["experiment_id"] == experiment_id].sort_values("variant")
        method = config["correction_method"].iloc[0]
        mine = assignments[assignments["experiment_id"] == experiment_id]
        included = mine[mine["is_included"].astype(bool)]
        counts = [int((included["variant"] == v).sum()) for v in config["variant"]]
        srm = stats.srm_test(counts, config["planned_weight"].astype(float).tolist()).p_value
        primary = [r for r in mine_rows if r["metric_role"] == "primary"]
        adjust = stats.holm if method == "holm" else stats.benjamini_hochberg
        for r, p in zip(primary, adjust([r["p_value"] for r in primary]), strict=True):
            r["adjusted_p_value"] = p
            r["adjustment_method"] = method if p is not None else None
        for r in mine_rows:
            r["srm_p_value"] = srm
            r["included_persons"] = len(included)
            r["excluded_persons"] = len(mine) - len(included)
        for variant in sorted({r["variant"] for r in mine_rows}):
            decision, reason = _decide([r for r in mine_rows if r["variant"] == variant], srm)
            for r in mine_rows:
                if r["variant"] == variant:
                    r["decision"], r["decision_reason"] = decision, reason


def _decide(rows: list[dict], srm: float | None) -> tuple[str, str]:
    if srm is not None and srm < SRM_ALPHA:
        return "invalid_srm", f"sample ratio mismatch: srm_p_value < {SRM_ALPHA}"
    worse, better = [], []
    for r in sorted(rows, key=lambda r: (r["metric_role"] != "primary", r["metric_name"])):
        p = r.get("adjusted_p_value") if r["metric_role"] == "primary" else r["p_value"]
        if p is None or p >= r["alpha"] or not r["absolute_lift"]:
            continue
        good = (r["absolute_lift"] > 0) == r["_higher_is_better"]
        (better if good else worse).append(f"{r['metric_role']} {r['metric_name']}")
    if worse:
        return "no_ship", "significantly worse: " + ", ".join(worse)
    primary_better = [b for b in better if b.startswith("primary")]
    if primary_better:
        return "ship", "significantly better: " + ", ".join(primary_better)
    return "inconclusive", "no primary metric significant at alpha"
