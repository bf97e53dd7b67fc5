"""Headline numbers printed at the end of `make demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb


def headline(duckdb_path: Path) -> list[str]:
    con = duckdb.connect(str(duckdb_path))
    try:
        rows = con.sql(
            "select source_table_id, source_rows, staged_rows, duplicate_rows, rejected_rows,"
            " is_reconciled from marts.rpt_source_reconciliation order by source_table_id"
        ).fetchall()
        [(persons, identified, events)] = con.sql(
            "select count(*), count(*) filter (where is_identified), sum(event_count)"
            " from marts.dim_persons"
        ).fetchall()
        funnel = con.sql(
            "select funnel_name, step_name, persons, conversion_from_start"
            " from marts.rpt_funnel_conversion where breakdown_value = '(all)'"
            " order by funnel_name, step_index"
        ).fetchall()
        experiments = con.sql(
            "select experiment_id, metric_name, variant, relative_lift, relative_lift_ci_lower,"
            " relative_lift_ci_upper, adjusted_p_value, decision"
            " from marts.rpt_experiment_results where metric_role = 'primary'"
            " order by experiment_id, metric_name, variant"
        ).fetchall()
    finally:
        con.close()
    reconciled = all(row[5] for row in rows)
    lines = [
        f"warehouse: {duckdb_path}  (schemas staging, marts)",
        "docs:      target/index.html  (open it, or run `dbt docs serve`)",
        f"{'source table':<28}{'raw':>9}{'staged':>9}{'dupes':>8}{'rejected':>10}",
    ]
    lines += [f"{r[0]:<28}{r[1]:>9}{r[2]:>9}{r[3]:>8}{r[4]:>10}" for r in rows]
    lines.append(
        "every raw row accounted for (raw = staged + duplicates + rejected)"
        if reconciled
        else "RECONCILIATION FAILED: see marts.rpt_source_reconciliation"
    )
    lines.append(f"{persons} persons ({identified} identified), {events} events (marts.fct_events)")
    for name, step, n, rate in funnel:
        lines.append(f"funnel {name}: {step:<22}{n:>7} persons  {rate:6.1%} of step 1")
    for exp, metric, variant, lift, low, high, p, decision in experiments:
        effect = "n/a" if lift is None else f"{lift:+.1%} [{low:+.1%}, {high:+.1%}]"
        p_text = "n/a" if p is None else f"{p:.3g}"
        lines.append(f"experiment {exp} {variant} {metric}: {effect} adj. p {p_text} -> {decision}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duckdb", default="data/warehouse.duckdb", type=Path)
    args = parser.parse_args()
    print("\n".join(headline(args.duckdb)))


if __name__ == "__main__":
    main()
