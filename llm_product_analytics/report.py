"""`lpa report`: a self-contained HTML report and CSV exports of the main marts.

Output in the chosen folder:

* `report.html`: one file that opens offline. Charts are plain inline SVG written here (no
  chart library, no script at all, styles inlined), so the page renders the same in any
  browser, needs nothing from the network, and two runs over the same warehouse give the same
  bytes: the only date in it is the range of the data (no generation timestamp, no random ids).
  Sections: KPI trends of the overall scope (`rpt_daily_kpis` rows with `app_id = 'all'`),
  funnel step conversion (`rpt_funnel_conversion`, the `(all)` breakdown rows), a retention
  heatmap by cohort (`rpt_retention`), a forest plot of the experiments' relative lifts with
  their intervals (`rpt_experiment_results`) and the sample-size plan (`rpt_experiment_plan`),
  and the weekly prompt feedback with the worst prompt version per app and week
  (`rpt_prompt_feedback_weekly`, `dislike_rate_rank_in_week = 1`).
* `csv/<mart>.csv`: the aggregate marts of `CSV_MARTS`, every column, in a fixed row order,
  for spreadsheets and BI tools. Person- and message-level tables (`fct_*`,
  `rpt_low_rated_responses` with the users' query and answer text) are left out on purpose:
  the exports carry no person ids and no user text.

A mart with no rows gets a "no data" note instead of a chart (and a CSV with only the
header); a mart missing from the warehouse (a partial build) gets a "not built" note and no
CSV. Both targets are read through `llm_product_analytics.warehouse`.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_product_analytics.warehouse import Warehouse

SCHEMA = "marts"

# Mart -> row order of its CSV export (readable order first, the primary key last).
CSV_MARTS: dict[str, str] = {
    "rpt_daily_kpis": "report_date, app_id",
    "rpt_funnel_conversion": "funnel_name, breakdown_value, step_index",
    "rpt_funnel_trends": "funnel_name, entry_date, step_index",
    "rpt_retention": (
        "breakdown_value, retention_kind, cohort_start nulls first, period_start, retention_id"
    ),
    "rpt_lifecycle_weekly": "week_start",
    "rpt_experiment_results": "experiment_id, metric_name, variant",
    "rpt_experiment_plan": "experiment_id, metric_name",
    "rpt_prompt_feedback_weekly": (
        "week_start, app_id, dislike_rate_rank_in_week, prompt_version_id"
    ),
    "rpt_source_reconciliation": "source_table_id",
}

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
DECISION_COLOURS = {
    "ship": "#009E73",
    "no_ship": "#D55E00",
    "invalid_srm": "#CC79A7",
    "inconclusive": "#555555",
}
# Forest plot x range (relative lift): intervals beyond it are drawn to the edge with an arrow.
FOREST_MIN, FOREST_MAX = -1.0, 3.0


# ---------------------------------------------------------------- formatting


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_int(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def fmt_signed_pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:+.{digits}f}%"


def fmt_num(value: float | None) -> str:
    """Compact number for axes and cells: 1.2M, 35k, 0.0042."""
    if value is None:
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_p(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _short_id(value: str | None, length: int = 8) -> str:
    """UUID-like ids shortened for display (the full id stays in the title attribute)."""
    if value is None:
        return "–"
    return value if len(value) <= length + 2 else value[:length] + "…"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (Heckbert's nice numbers)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(count - 1, 1)
    exponent = math.floor(math.log10(raw_step))
    fraction = raw_step / 10**exponent
    nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    step = nice * 10**exponent
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.5:
        ticks.append(round(value, 12))
        value += step
    return ticks


# ---------------------------------------------------------------- SVG charts

FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\""


def _svg(width: int, height: int, body: Iterable[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_esc(label)}" {FONT} '
        f'font-size="11">' + "".join(body) + "</svg>"
    )


def line_chart(
    title: str,
    dates: Sequence[dt.date],
    series: Sequence[tuple[str, Sequence[float | None]]],
    value_format: Callable[[float | None], str] = fmt_num,
    y_floor_zero: bool = True,
) -> str:
    """Lines over dates; a None value breaks the line. Every point has a hover title."""
    width, height = 460, 230
    left, right, top, bottom = 56, 22, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    low = min(values, default=0.0)
    high = max(values, default=1.0)
    if y_floor_zero:
        low = min(low, 0.0)
    ticks = nice_ticks(low, high)
    y_min, y_max = ticks[0], ticks[-1]
    n = len(dates)

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y_of(v: float) -> float:
        return top + plot_h - (v - y_min) / ((y_max - y_min) or 1) * plot_h

    body = [f'<text x="{left}" y="16" font-size="13" font-weight="600">{_esc(title)}</text>']
    for tick in ticks:
        y = y_of(tick)
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e3e3"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#555">{_esc(value_format(tick))}</text>'
        )
    label_every = max(1, math.ceil(n / 6))
    for i, day in enumerate(dates):
        if i % label_every == 0 or i == n - 1 and n <= 6:
            body.append(
                f'<text x="{x_of(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'fill="#555">{day.strftime("%m-%d")}</text>'
            )
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#999"/>'
    )
    legend_x = left
    for k, (name, vals) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for i, v in enumerate(vals):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{x_of(i):.1f},{y_of(v):.1f}")
        for points in segments:
            if len(points) > 1:
                body.append(
                    f'<polyline class="series" fill="none" stroke="{colour}" '
                    f'stroke-width="2" points="{" ".join(points)}"/>'
                )
        for i, v in enumerate(vals):
            if v is not None:
                body.append(
                    f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="2.2" fill="{colour}">'
                    f"<title>{_esc(name)} {dates[i].isoformat()}: "
                    f"{_esc(value_format(v))}</title></circle>"
                )
        if len(series) > 1:
            y = height - 8
            body.append(
                f'<rect x="{legend_x}" y="{y - 8}" width="10" height="10" fill="{colour}"/>'
                f'<text x="{legend_x + 14}" y="{y + 1}">{_esc(name)}</text>'
            )
            legend_x += 24 + 7 * len(name)
    return _svg(width, height, body, title)


def funnel_chart(title: str, steps: Sequence[dict[str, Any]]) -> str:
    """Horizontal bars of persons per step, labelled with the step conversion rates."""
    bar_h, gap = 26, 10
    left, right, top = 170, 250, 30
    width = 760
    height = top + len(steps) * (bar_h + gap) + 6
    plot_w = width - left - right
    first = steps[0]["persons"] or 0
    body = [f'<text x="0" y="16" font-size="13" font-weight="600">{_esc(title)}</text>']
    for i, step in enumerate(steps):
        persons = step["persons"] or 0
        y = top + i * (bar_h + gap)
        bar_w = 0 if first == 0 else plot_w * persons / first
        note = f"{fmt_int(persons)} · {fmt_pct(step['conversion_from_start'])} of step 1" + (
            f" · {fmt_pct(step['conversion_from_previous'])} of previous"
            if step["step_index"] > 1
            else ""
        )
        body.append(
            f'<text x="{left - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end">'
            f"{step['step_index']}. {_esc(step['step_name'])}</text>"
            f'<rect class="bar" x="{left}" y="{y}" width="{max(bar_w, 1):.1f}" '
            f'height="{bar_h}" fill="{PALETTE[0]}"><title>{_esc(step["step_name"])}: '
            f"{_esc(note)}</title></rect>"
            f'<text x="{left + max(bar_w, 1) + 6:.1f}" y="{y + bar_h / 2 + 4}" '
            f'fill="#333">{_esc(note)}</text>'
        )
    return _svg(width, height, body, title)


def _heat_colour(rate: float) -> str:
    """White (0) to the palette blue (1)."""
    rate = min(max(rate, 0.0), 1.0)
    start, end = (255, 255, 255), (0, 114, 178)
    r, g, b = (round(s + (e - s) * rate) for s, e in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    title: str,
    row_labels: Sequence[str],
    row_sizes: Sequence[int],
    col_labels: Sequence[str],
    cells: dict[tuple[int, int], tuple[float | None, int, int]],
) -> str:
    """Cohort x period cells coloured by rate; (rate, retained, eligible) per cell.
    A missing cell or a null rate (nobody eligible yet) is drawn hatched grey."""
    cell_w, cell_h = 54, 22
    left, top = 150, 46
    width = left + cell_w * len(col_labels) + 10
    height = top + cell_h * len(row_labels) + 8
    body = [
        f'<text x="0" y="16" font-size="13" font-weight="600">{_esc(title)}</text>',
        f'<text x="0" y="{top - 8}" fill="#555">cohort (persons)</text>',
    ]
    for j, label in enumerate(col_labels):
        body.append(
            f'<text x="{left + cell_w * j + cell_w / 2}" y="{top - 8}" '
            f'text-anchor="middle" font-weight="600">{_esc(label)}</text>'
        )
    for i, label in enumerate(row_labels):
        y = top + cell_h * i
        body.append(
            f'<text x="{left - 8}" y="{y + cell_h / 2 + 4}" text-anchor="end">'
            f"{_esc(label)} ({fmt_int(row_sizes[i])})</text>"
        )
        for j, col in enumerate(col_labels):
            x = left + cell_w * j
            rate, retained, eligible = cells.get((i, j), (None, 0, 0))
            if rate is None:
                body.append(
                    f'<rect class="cell empty" x="{x}" y="{y}" width="{cell_w - 2}" '
                    f'height="{cell_h - 2}" fill="#f1f1f1"><title>{_esc(label)} {_esc(col)}: '
                    "nobody eligible yet</title></rect>"
                )
                continue
            ink = "#fff" if rate > 0.55 else "#111"
            body.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" fill="{_heat_colour(rate)}"><title>{_esc(label)} '
                f"{_esc(col)}: {fmt_pct(rate)} ({retained} of {eligible})</title></rect>"
                f'<text x="{x + (cell_w - 2) / 2}" y="{y + cell_h / 2 + 3}" '
                f'text-anchor="middle" fill="{ink}">{fmt_pct(rate, 0)}</text>'
            )
    return _svg(width, height, body, title)


def forest_plot(title: str, rows: Sequence[dict[str, Any]]) -> str:
    """One line per result row: the relative lift (dot) and its interval (bar), coloured by
    the decision, against a zero line. Rows without an interval show why instead."""
    row_h = 24
    labels = [
        f"{r['experiment_id']} · {r['metric_name']} · {r['variant']}"
        + (" (guardrail)" if r["metric_role"] == "guardrail" else "")
        for r in rows
    ]
    # About 6.4 px per character at font-size 11: room for the longest label.
    left = min(560, 24 + round(6.4 * max((len(label) for label in labels), default=10)))
    right, top, bottom = 150, 34, 34
    width = left + 420 + right
    plot_w = width - left - right
    height = top + row_h * len(rows) + bottom
    lows = [r["relative_lift_ci_lower"] for r in rows if r["relative_lift_ci_lower"] is not None]
    highs = [r["relative_lift_ci_upper"] for r in rows if r["relative_lift_ci_upper"] is not None]
    x_low = max(min([0.0, *lows]), FOREST_MIN)
    x_high = min(max([0.0, *highs]), FOREST_MAX)
    ticks = nice_ticks(x_low, x_high, 6)
    x_min, x_max = ticks[0], ticks[-1]

    def x_of(v: float) -> float:
        clipped = min(max(v, x_min), x_max)
        return left + (clipped - x_min) / ((x_max - x_min) or 1) * plot_w

    body = [f'<text x="0" y="16" font-size="13" font-weight="600">{_esc(title)}</text>']
    axis_y = top + row_h * len(rows)
    for tick in ticks:
        x = x_of(tick)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{axis_y}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">'
            f"{fmt_signed_pct(tick, 0) if tick else '0%'}</text>"
        )
    zero = x_of(0.0)
    body.append(
        f'<line class="zero" x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 6}" y2="{axis_y}" '
        'stroke="#333" stroke-dasharray="3,3"/>'
        f'<text x="{left + plot_w / 2}" y="{axis_y + 30}" text-anchor="middle" fill="#555">'
        "relative lift vs control (interval: delta method)</text>"
    )
    for i, row in enumerate(rows):
        y = top + row_h * i + row_h / 2
        label = labels[i]
        colour = DECISION_COLOURS.get(row["decision"], "#555555")
        body.append(f'<text x="{left - 10}" y="{y + 4}" text-anchor="end">{_esc(label)}</text>')
        lift, low, high = (
            row["relative_lift"],
            row["relative_lift_ci_lower"],
            row["relative_lift_ci_upper"],
        )
        if lift is None or low is None or high is None:
            reason = row.get("undefined_reason") or "relative lift undefined (zero baseline)"
            body.append(
                f'<text class="undefined" x="{zero + 6:.1f}" y="{y + 4}" fill="#888" '
                f'font-style="italic">{_esc(reason)}</text>'
            )
            continue
        tip = (
            f"{label}: {fmt_signed_pct(lift)} [{fmt_signed_pct(low)}, {fmt_signed_pct(high)}]"
            f", p = {fmt_p(row['p_value'])}, adjusted p = {fmt_p(row['adjusted_p_value'])}"
            f", {row['decision']}"
        )
        arrows = ""
        if low < x_min:
            arrows += f'<path d="M{x_of(x_min):.1f},{y} l6,-4 v8 z" fill="{colour}"/>'  # clipped
        if high > x_max:
            arrows += f'<path d="M{x_of(x_max):.1f},{y} l-6,-4 v8 z" fill="{colour}"/>'
        body.append(
            f'<g class="forest-mark" data-result-id="{_esc(row["result_id"])}">'
            f"<title>{_esc(tip)}</title>"
            f'<line x1="{x_of(low):.1f}" x2="{x_of(high):.1f}" y1="{y}" y2="{y}" '
            f'stroke="{colour}" stroke-width="2.5"/>{arrows}'
            f'<circle cx="{x_of(lift):.1f}" cy="{y}" r="5" fill="{colour}"/></g>'
            f'<text x="{width - right + 8}" y="{y + 4}" fill="{colour}">'
            f"{fmt_signed_pct(lift)} · {_esc(row['decision'])}</text>"
        )
    return _svg(width, height, body, title)


# ---------------------------------------------------------------- reading the marts


@dataclass
class ReportData:
    """What the report shows, read from the marts (None: the mart is not in the warehouse)."""

    target: str
    kpis: list[dict[str, Any]] | None
    funnels: list[dict[str, Any]] | None
    retention: list[dict[str, Any]] | None
    experiments: list[dict[str, Any]] | None
    plan: list[dict[str, Any]] | None
    prompt_feedback: list[dict[str, Any]] | None


@dataclass
class ReportResult:
    html_path: Path
    csv_files: list[Path] = field(default_factory=list)
    rows_per_csv: dict[str, int] = field(default_factory=dict)
    missing_marts: list[str] = field(default_factory=list)
    data_range: tuple[dt.date, dt.date] | None = None

    def summary_lines(self) -> list[str]:
        lines = [f"wrote {self.html_path}"]
        if self.data_range:
            lines.append(f"data from {self.data_range[0]} to {self.data_range[1]}")
        for path in self.csv_files:
            lines.append(f"wrote {path} ({self.rows_per_csv[path.stem]} rows)")
        for mart in self.missing_marts:
            lines.append(f"not built, skipped: {SCHEMA}.{mart}")
        return lines


def existing_marts(warehouse: Warehouse) -> set[str]:
    rows = warehouse.query(
        "select table_name from information_schema.tables where table_schema = ?", [SCHEMA]
    )
    return {row["table_name"] for row in rows}


def read_report_data(warehouse: Warehouse, present: set[str]) -> ReportData:
    def read(mart: str, sql: str) -> list[dict[str, Any]] | None:
        return warehouse.query(sql) if mart in present else None

    return ReportData(
        target=warehouse.target,
        kpis=read(
            "rpt_daily_kpis",
            "select report_date, dau, wau, mau, query_count, total_tokens, cost, error_rate,"
            " dislike_rate, completed_response_count, failed_response_count,"
            " rated_message_count, disliked_message_count, has_full_wau_window,"
            " has_full_mau_window"
            f" from {SCHEMA}.rpt_daily_kpis where app_id = 'all' order by report_date",
        ),
        funnels=read(
            "rpt_funnel_conversion",
            "select funnel_name, breakdown_by, breakdown_value, step_index, step_name, persons,"
            " persons_in_progress, conversion_from_start, conversion_from_previous,"
            " median_seconds_from_previous"
            f" from {SCHEMA}.rpt_funnel_conversion order by funnel_name, breakdown_value,"
            " step_index",
        ),
        retention=read(
            "rpt_retention",
            "select grain, breakdown_value, retention_kind, period_label, period_start,"
            " period_end, cohort_start, is_pooled, cohort_size, eligible_persons,"
            f" retained_persons from {SCHEMA}.rpt_retention"
            " order by retention_kind, cohort_start nulls first, period_start, breakdown_value",
        ),
        experiments=read(
            "rpt_experiment_results",
            "select result_id, experiment_id, metric_name, metric_role, variant,"
            " control_variant, n_control, n_treatment, mean_control, mean_treatment,"
            " relative_lift, relative_lift_ci_lower, relative_lift_ci_upper, p_value,"
            " adjusted_p_value, srm_p_value, decision, undefined_reason"
            f" from {SCHEMA}.rpt_experiment_results"
            " order by experiment_id, metric_role desc, metric_name, variant",
        ),
        plan=read(
            "rpt_experiment_plan",
            "select experiment_id, metric_name, metric_role, minimum_detectable_effect,"
            " required_n_per_arm, current_n_control, current_n_smallest_treatment,"
            " current_relative_mde, days_observed, is_powered_for_mde"
            f" from {SCHEMA}.rpt_experiment_plan order by experiment_id, metric_role desc,"
            " metric_name",
        ),
        prompt_feedback=read(
            "rpt_prompt_feedback_weekly",
            "select week_start, app_id, prompt_version_id, messages, rated_messages, dislikes,"
            " dislike_rate, dislike_rate_rank_in_week, dislike_rate_change_vs_previous_week,"
            " error_rate, latency_p95_ms"
            f" from {SCHEMA}.rpt_prompt_feedback_weekly"
            " order by week_start desc, app_id, dislike_rate_rank_in_week, prompt_version_id",
        ),
    )


# ---------------------------------------------------------------- HTML sections


def _note(text: str) -> str:
    return f'<p class="no-data">{_esc(text)}</p>'


def _missing(mart: str, rows: list[dict[str, Any]] | None) -> str | None:
    if rows is None:
        return _note(f"{SCHEMA}.{mart} is not in the warehouse (not built).")
    if not rows:
        return _note(f"No data: {SCHEMA}.{mart} has no rows.")
    return None


def _figure(chart_id: str, svg: str) -> str:
    return f'<figure class="chart" id="chart-{_esc(chart_id)}">{svg}</figure>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def section_kpis(rows: list[dict[str, Any]] | None) -> str:
    missing = _missing("rpt_daily_kpis", rows)
    if missing:
        return missing
    assert rows is not None
    dates = [r["report_date"] for r in rows]
    last = rows[-1]
    responses = sum(
        (r["completed_response_count"] or 0) + (r["failed_response_count"] or 0) for r in rows
    )
    tiles = [
        ("DAU (last day)", fmt_int(last["dau"])),
        ("WAU (last day)", fmt_int(last["wau"])),
        ("MAU (last day)", fmt_int(last["mau"])),
        ("Queries", fmt_int(sum(r["query_count"] or 0 for r in rows))),
        ("Tokens", fmt_int(sum(r["total_tokens"] or 0 for r in rows))),
        ("Cost", f"{sum(r['cost'] or 0 for r in rows):,.4f}"),
        (
            "Error rate",
            fmt_pct(_ratio(sum(r["failed_response_count"] or 0 for r in rows), responses), 2),
        ),
        (
            "Dislike rate",
            fmt_pct(
                _ratio(
                    sum(r["disliked_message_count"] or 0 for r in rows),
                    sum(r["rated_message_count"] or 0 for r in rows),
                )
            ),
        ),
    ]
    tile_html = "".join(
        f'<div class="tile"><div class="tile-label">{_esc(label)}</div>'
        f'<div class="tile-value">{_esc(value)}</div></div>'
        for label, value in tiles
    )
    charts = [
        (
            "active",
            line_chart(
                "Active persons",
                dates,
                [(k.upper(), [r[k] for r in rows]) for k in ("dau", "wau", "mau")],
            ),
        ),
        ("queries", line_chart("Queries per day", dates, [("queries", _col(rows, "query_count"))])),
        ("tokens", line_chart("Tokens per day", dates, [("tokens", _col(rows, "total_tokens"))])),
        ("cost", line_chart("Cost per day", dates, [("cost", _col(rows, "cost"))])),
        (
            "rates",
            line_chart(
                "Error and dislike rate",
                dates,
                [
                    ("error rate", _col(rows, "error_rate")),
                    ("dislike rate", _col(rows, "dislike_rate")),
                ],
                value_format=lambda v: fmt_pct(v, 0),
            ),
        ),
    ]
    partial = [r["report_date"] for r in rows if not r["has_full_mau_window"]]
    note = (
        f'<p class="note">WAU and MAU up to {partial[-1]} count only the days inside the data '
        "(their window starts before the first date).</p>"
        if partial
        else ""
    )
    return (
        f'<div class="tiles">{tile_html}</div><div class="grid">'
        + "".join(_figure(f"kpi-{cid}", svg) for cid, svg in charts)
        + f"</div>{note}"
    )


def _col(rows: list[dict[str, Any]], key: str) -> list[float | None]:
    return [r[key] for r in rows]


def section_funnels(rows: list[dict[str, Any]] | None) -> str:
    missing = _missing("rpt_funnel_conversion", rows)
    if missing:
        return missing
    assert rows is not None
    parts = []
    funnel_names = sorted({r["funnel_name"] for r in rows})
    for k, name in enumerate(funnel_names):
        steps = [r for r in rows if r["funnel_name"] == name and r["breakdown_value"] == "(all)"]
        steps.sort(key=lambda r: r["step_index"])
        if steps:
            parts.append(_figure(f"funnel-{k}", funnel_chart(f"Funnel {name}", steps)))
        by = {r["breakdown_by"] for r in rows if r["funnel_name"] == name} - {None}
        values = sorted(
            {r["breakdown_value"] for r in rows if r["funnel_name"] == name} - {"(all)"}
        )
        if by and values:
            step_count = max(r["step_index"] for r in rows if r["funnel_name"] == name)
            table_rows = []
            for value in values:
                per_step = {
                    r["step_index"]: r
                    for r in rows
                    if r["funnel_name"] == name and r["breakdown_value"] == value
                }
                first = per_step.get(1)
                table_rows.append(
                    [_esc(value), fmt_int(first["persons"] if first else None)]
                    + [
                        fmt_pct(per_step[i]["conversion_from_start"]) if i in per_step else "–"
                        for i in range(2, step_count + 1)
                    ]
                )
            parts.append(
                f"<h3>{_esc(name)} by {_esc(', '.join(sorted(by)))}: conversion from step 1</h3>"
                + _table(
                    ["value", "step 1 persons"] + [f"step {i}" for i in range(2, step_count + 1)],
                    table_rows,
                )
            )
    return "".join(parts)


def section_retention(rows: list[dict[str, Any]] | None) -> str:
    missing = _missing("rpt_retention", rows)
    if missing:
        return missing
    assert rows is not None
    kinds = sorted({r["retention_kind"] for r in rows}, key=["n_day", "unbounded", "bracket"].index)
    kind = kinds[0]
    rows = [r for r in rows if r["retention_kind"] == kind]
    periods = sorted(
        {
            (
                r["period_start"],
                -1 if r["period_end"] is None else r["period_end"],
                r["period_label"],
            )
            for r in rows
        }
    )
    col_labels = [p[2] for p in periods]
    col_index = {label: j for j, label in enumerate(col_labels)}
    cohorts = sorted({r["cohort_start"] for r in rows if not r["is_pooled"]})
    row_labels = ["all cohorts"] + [c.isoformat() for c in cohorts]
    row_index = {None: 0, **{c: i + 1 for i, c in enumerate(cohorts)}}
    # Summed over breakdown values: per cohort and period, retained / eligible persons.
    sums: dict[tuple[int, int], list[int]] = {}
    sizes = [0] * len(row_labels)
    seen_size: set[tuple[int, str]] = set()
    for r in rows:
        i = 0 if r["is_pooled"] else row_index[r["cohort_start"]]
        j = col_index[r["period_label"]]
        cell = sums.setdefault((i, j), [0, 0])
        cell[0] += r["retained_persons"] or 0
        cell[1] += r["eligible_persons"] or 0
        if (i, r["breakdown_value"]) not in seen_size:
            seen_size.add((i, r["breakdown_value"]))
            sizes[i] += r["cohort_size"] or 0
    cells = {
        key: (_ratio(retained, eligible), retained, eligible)
        for key, (retained, eligible) in sums.items()
    }
    grain = rows[0]["grain"]
    kind_text = {
        "n_day": "returned in exactly that period",
        "unbounded": "returned in that period or later",
        "bracket": "returned in any period of the bracket",
    }[kind]
    breakdowns = sorted({r["breakdown_value"] for r in rows})
    pooled_note = (
        f" Cohorts are summed over the breakdown values {', '.join(breakdowns)}."
        if len(breakdowns) > 1
        else ""
    )
    return _figure(
        "retention",
        heatmap(f"Retention by {grain} cohort ({kind})", row_labels, sizes, col_labels, cells),
    ) + (
        f'<p class="note">Share of the cohort that {kind_text} ({grain}s after the cohort '
        "start); grey: the period has not ended within the data, nobody is eligible yet. The "
        f"first row pools all cohorts.{_esc(pooled_note)}</p>"
    )


def section_experiments(
    rows: list[dict[str, Any]] | None, plan: list[dict[str, Any]] | None
) -> str:
    missing = _missing("rpt_experiment_results", rows)
    parts = []
    if missing:
        parts.append(missing)
    else:
        assert rows is not None
        parts.append(_figure("forest", forest_plot("Relative lift by experiment", rows)))
        parts.append(
            _table(
                [
                    "experiment",
                    "metric",
                    "role",
                    "variant",
                    "n control",
                    "n treatment",
                    "control",
                    "treatment",
                    "relative lift [interval]",
                    "p",
                    "adjusted p",
                    "SRM p",
                    "decision",
                ],
                (
                    [
                        _esc(r["experiment_id"]),
                        _esc(r["metric_name"]),
                        _esc(r["metric_role"]),
                        _esc(r["variant"]),
                        fmt_int(r["n_control"]),
                        fmt_int(r["n_treatment"]),
                        fmt_num(r["mean_control"]),
                        fmt_num(r["mean_treatment"]),
                        (
                            f"{fmt_signed_pct(r['relative_lift'])} "
                            f"[{fmt_signed_pct(r['relative_lift_ci_lower'])}, "
                            f"{fmt_signed_pct(r['relative_lift_ci_upper'])}]"
                            if r["relative_lift"] is not None
                            else _esc(r["undefined_reason"] or "undefined")
                        ),
                        fmt_p(r["p_value"]),
                        fmt_p(r["adjusted_p_value"]),
                        fmt_p(r["srm_p_value"]),
                        f'<span class="decision {_esc(r["decision"])}">'
                        f"{_esc(r['decision'])}</span>",
                    ]
                    for r in rows
                ),
            )
        )
    parts.append("<h3>Sample size plan</h3>")
    missing_plan = _missing("rpt_experiment_plan", plan)
    if missing_plan:
        parts.append(missing_plan)
    else:
        assert plan is not None
        parts.append(
            _table(
                [
                    "experiment",
                    "metric",
                    "role",
                    "target MDE",
                    "needed per arm",
                    "control now",
                    "smallest treatment now",
                    "MDE now",
                    "days",
                    "powered",
                ],
                (
                    [
                        _esc(p["experiment_id"]),
                        _esc(p["metric_name"]),
                        _esc(p["metric_role"]),
                        fmt_pct(p["minimum_detectable_effect"]),
                        fmt_int(p["required_n_per_arm"]),
                        fmt_int(p["current_n_control"]),
                        fmt_int(p["current_n_smallest_treatment"]),
                        fmt_pct(p["current_relative_mde"]),
                        fmt_int(p["days_observed"]),
                        "yes" if p["is_powered_for_mde"] else "no",
                    ]
                    for p in plan
                ),
            )
        )
    return "".join(parts)


def _feedback_row(r: dict[str, Any]) -> list[str]:
    change = r["dislike_rate_change_vs_previous_week"]
    return [
        _esc(r["week_start"]),
        f'<span title="{_esc(r["app_id"])}">{_esc(_short_id(r["app_id"]))}</span>',
        f'<span title="{_esc(r["prompt_version_id"])}">'
        f"{_esc(_short_id(r['prompt_version_id']))}</span>",
        fmt_int(r["messages"]),
        fmt_int(r["rated_messages"]),
        fmt_int(r["dislikes"]),
        fmt_pct(r["dislike_rate"]),
        "–" if change is None else f"{change * 100:+.1f} pp",
        fmt_pct(r["error_rate"]),
        fmt_num(r["latency_p95_ms"]),
        fmt_int(r["dislike_rate_rank_in_week"]),
    ]


FEEDBACK_HEADERS = [
    "week",
    "app",
    "prompt version",
    "messages",
    "rated",
    "dislikes",
    "dislike rate",
    "vs previous week",
    "error rate",
    "p95 latency ms",
    "rank in week",
]


def section_prompt_feedback(rows: list[dict[str, Any]] | None) -> str:
    missing = _missing("rpt_prompt_feedback_weekly", rows)
    if missing:
        return missing
    assert rows is not None
    worst = [
        r for r in rows if r["dislike_rate_rank_in_week"] == 1 and r["dislike_rate"] is not None
    ]
    parts = ["<h3>Worst prompt version per app and week (highest dislike rate)</h3>"]
    if worst:
        parts.append(_table(FEEDBACK_HEADERS, (_feedback_row(r) for r in worst), "worst"))
    else:
        parts.append(_note("No prompt version had a rated message."))
    parts.append("<h3>All prompt versions by week</h3>")
    parts.append(_table(FEEDBACK_HEADERS, (_feedback_row(r) for r in rows), "feedback"))
    return "".join(parts)


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px 48px;color:#1a1a1a;background:#fff}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;margin:32px 0 8px;
border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:14px;margin:18px 0 6px}
.meta{color:#555;margin:0 0 12px}.note{color:#555;font-size:12px}
.no-data{color:#8a5a00;background:#fff7e6;border:1px solid #f0d9a8;padding:8px 12px}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.tile-label{font-size:11px;color:#555}.tile-value{font-size:18px;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:12px}figure.chart{margin:8px 0;overflow-x:auto}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
.decision.ship{color:#00795a;font-weight:600}.decision.no_ship{color:#b34700;font-weight:600}
.decision.invalid_srm{color:#9c3d7f;font-weight:600}
nav a{margin-right:12px}
"""


def render_html(data: ReportData) -> str:
    """The whole report page (a pure function of the data: same data, same bytes)."""
    dates = [r["report_date"] for r in data.kpis or []]
    data_range = f"Data from {dates[0]} to {dates[-1]}" if dates else "No daily KPI data"
    sections = [
        ("kpis", "KPI trends (all apps)", section_kpis(data.kpis)),
        ("funnels", "Funnels", section_funnels(data.funnels)),
        ("retention", "Retention", section_retention(data.retention)),
        ("experiments", "Experiments", section_experiments(data.experiments, data.plan)),
        ("prompt-feedback", "Prompt feedback", section_prompt_feedback(data.prompt_feedback)),
    ]
    nav = "".join(f'<a href="#{sid}">{_esc(title)}</a>' for sid, title, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{_esc(title)}</h2>{content}</section>'
        for sid, title, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>LLM product analytics report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>LLM product analytics report</h1>"
        f'<p class="meta" id="data-range">{_esc(data_range)} · warehouse: {_esc(data.target)}'
        " · CSV exports in csv/</p>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )


# ---------------------------------------------------------------- CSV exports


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, sort_keys=True)
    return value


def export_csv(warehouse: Warehouse, mart: str, order_by: str, path: Path) -> int:
    """Write `marts.<mart>` (every column, rows in `order_by` order) to path; returns rows."""
    rows = warehouse.query(f"select * from {SCHEMA}.{mart} order by {order_by}")
    if rows:
        columns = list(rows[0])
    else:  # header of an empty table
        columns = [
            r["column_name"]
            for r in warehouse.query(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? order by ordinal_position",
                [SCHEMA, mart],
            )
        ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(row[c]) for c in columns])
    return len(rows)


def build_report(warehouse: Warehouse, out_dir: Path) -> ReportResult:
    """Write out_dir/report.html and out_dir/csv/<mart>.csv from the warehouse's marts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_dir = out_dir / "csv"
    csv_dir.mkdir(exist_ok=True)
    present = existing_marts(warehouse)
    data = read_report_data(warehouse, present)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(data), encoding="utf-8")
    result = ReportResult(html_path=html_path)
    if data.kpis:
        result.data_range = (data.kpis[0]["report_date"], data.kpis[-1]["report_date"])
    for mart, order_by in CSV_MARTS.items():
        if mart not in present:
            result.missing_marts.append(mart)
            continue
        path = csv_dir / f"{mart}.csv"
        result.rows_per_csv[mart] = export_csv(warehouse, mart, order_by, path)
        result.csv_files.append(path)
    return result
