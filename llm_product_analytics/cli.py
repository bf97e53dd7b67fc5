"""Command-line entry point `lpa`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import date


def _cmd_generate(args: argparse.Namespace) -> int:
    from llm_product_analytics.generate import generate

    truth = generate(
        out_dir=Path(args.out),
        users=args.users,
        days=args.days,
        seed=args.seed,
        start_date=args.start_date,
        bad_rows=not args.no_bad_rows,
    )
    print(
        f"wrote {truth['counts']['amplitude_lines']} Amplitude lines and "
        f"{truth['counts']['dify_rows_total']} Dify rows to {args.out}"
    )
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    from llm_product_analytics.load import LoadError, load

    try:
        report = load(raw_dir=Path(args.raw_dir), replace=args.replace)
    except LoadError as exc:
        print(f"lpa load: {exc}", file=sys.stderr)
        return 1
    for line in report.summary_lines():
        print(line)
    return 0


def _cmd_unpack_export(args: argparse.Namespace) -> int:
    from llm_product_analytics.unpack import unpack_export

    written = unpack_export(Path(args.zip_file), Path(args.out))
    print(f"extracted {len(written)} files into {args.out}")
    return 0


def _cmd_export_cohorts(args: argparse.Namespace) -> int:
    import os

    from llm_product_analytics import cohorts
    from llm_product_analytics.warehouse import WarehouseError, connect

    api_key = ""
    if args.send and not args.dry_run:
        if not args.api_key_env:
            print("lpa export-cohorts: --send needs --api-key-env VAR", file=sys.stderr)
            return 2
        api_key = os.environ.get(args.api_key_env, "")
        if not api_key:
            print(
                f"lpa export-cohorts: environment variable {args.api_key_env} "
                "(the Amplitude project API key) is not set or empty",
                file=sys.stderr,
            )
            return 2
    try:
        with connect(args.target, args.duckdb_path) as warehouse:
            export = cohorts.export_cohorts(
                warehouse,
                Path(args.out),
                args.experiments,
                args.batch_size or cohorts.MAX_BATCH_SIZE,
            )
    except WarehouseError as exc:
        print(f"lpa export-cohorts: {exc}", file=sys.stderr)
        return 1
    for line in export.summary_lines():
        print(line)
    print(f"wrote {len(export.files)} batch files to {args.out}")
    if not args.send:
        return 0
    if args.dry_run:
        print(f"dry run: would POST {len(export.batches)} batches to {args.send}")
        return 0
    results = cohorts.send_batches(
        export.batches,
        args.send,
        api_key,
        files=export.files,
        max_retries=args.max_retries,
        backoff_base=args.backoff_base,
        timeout=args.timeout,
    )
    failed = [r for r in results if not r.ok]
    print(f"sent {len(results) - len(failed)} of {len(results)} batches to {args.send}")
    for r in failed:
        where = r.file.name if r.file else f"batch {r.index}"
        print(
            f"FAILED {where} ({r.size} identifications, {r.attempts} attempts): {r.error}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _cmd_export_prompt_winner(args: argparse.Namespace) -> int:
    from llm_product_analytics.dify_export import export_prompt_winners
    from llm_product_analytics.warehouse import WarehouseError, connect

    try:
        with connect(args.target, args.duckdb_path) as warehouse:
            reports = export_prompt_winners(warehouse, Path(args.out), args.as_of)
    except WarehouseError as exc:
        print(f"lpa export-prompt-winner: {exc}", file=sys.stderr)
        return 1
    if not reports:
        print("no prompt experiments (assignment_source = 'dify_prompt_version')")
    for report in reports:
        print(report.line())
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from llm_product_analytics.report import build_report
    from llm_product_analytics.warehouse import WarehouseError, connect

    try:
        with connect(args.target, args.duckdb_path) as warehouse:
            result = build_report(warehouse, Path(args.out))
    except WarehouseError as exc:
        print(f"lpa report: {exc}", file=sys.stderr)
        return 1
    for line in result.summary_lines():
        print(line)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from llm_product_analytics.bench import BenchError, render_text, run_bench

    try:
        result = run_bench(
            events=args.events,
            target=args.target,
            days=args.days,
            out=Path(args.out),
            keep=args.keep,
        )
    except BenchError as exc:
        print(f"lpa bench: {exc}", file=sys.stderr)
        return 1
    print(render_text(result))
    print("wrote " + " and ".join(result["files"]))
    return 0


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _batch_size(value: str) -> int:
    from llm_product_analytics.cohorts import MAX_BATCH_SIZE

    size = int(value)
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH_SIZE}")
    return size


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _iso_date(value: str) -> date:
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected a date YYYY-MM-DD") from exc


def _add_warehouse_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument(
        "--duckdb-path", help="DuckDB file (default: $LPA_DUCKDB_PATH or data/warehouse.duckdb)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write sample Dify + Amplitude data with ground truth")
    gen.add_argument("--out", default="data/raw")
    gen.add_argument("--users", type=int, default=1500)
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--start-date", default="2026-07-01")
    gen.add_argument("--no-bad-rows", action="store_true", help="omit the planted bad input")
    gen.set_defaults(func=_cmd_generate)

    load = sub.add_parser("load", help="land raw files into PostgreSQL (PG* env vars)")
    load.add_argument("--raw-dir", default="data/raw")
    load.add_argument("--replace", action="store_true", help="reload files whose content changed")
    load.set_defaults(func=_cmd_load)

    unpack = sub.add_parser("unpack-export", help="extract an Amplitude Export API zip")
    unpack.add_argument("zip_file")
    unpack.add_argument("--out", default="data/raw/amplitude")
    unpack.set_defaults(func=_cmd_unpack_export)

    cohort = sub.add_parser(
        "export-cohorts", help="write (and optionally send) Amplitude Identify batches"
    )
    _add_warehouse_arguments(cohort)
    cohort.add_argument(
        "--experiment",
        dest="experiments",
        nargs="+",
        action="extend",
        metavar="ID",
        help="only these experiments (default: all)",
    )
    cohort.add_argument("--out", required=True, help="folder for identify_batch_*.json")
    cohort.add_argument(
        "--batch-size",
        type=_batch_size,
        help="identifications per request (default and maximum: 1999, Amplitude's limit)",
    )
    cohort.add_argument(
        "--send", metavar="URL", help="POST the batches (https://api2.amplitude.com/identify)"
    )
    cohort.add_argument("--api-key-env", metavar="VAR", help="env variable holding the API key")
    cohort.add_argument("--max-retries", type=_non_negative_int, default=5)
    cohort.add_argument(
        "--backoff-base", type=float, default=15.0, help="seconds; doubled each retry"
    )
    cohort.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    cohort.add_argument("--dry-run", action="store_true", help="write files, send nothing")
    cohort.set_defaults(func=_cmd_export_cohorts)

    winner = sub.add_parser(
        "export-prompt-winner", help="write Dify model-config patches of concluded prompt tests"
    )
    _add_warehouse_arguments(winner)
    winner.add_argument(
        "--as-of",
        type=_iso_date,
        help="experiments ending before this date are concluded (default: today UTC)",
    )
    winner.add_argument("--out", required=True)
    winner.set_defaults(func=_cmd_export_prompt_winner)

    report = sub.add_parser(
        "report", help="write a self-contained HTML report and CSV exports of the marts"
    )
    _add_warehouse_arguments(report)
    report.add_argument("--out", required=True, help="folder for report.html and csv/")
    report.set_defaults(func=_cmd_report)

    bench = sub.add_parser(
        "bench", help="generate N events and time floor, builds, funnel and peak memory"
    )
    bench.add_argument(
        "--events",
        type=_positive_int,
        help="raw records to generate (default: 10,000,000 on DuckDB, 1,000,000 on PostgreSQL)",
    )
    bench.add_argument("--target", choices=["duckdb", "postgres"], default="duckdb")
    bench.add_argument(
        "--days",
        type=_positive_int,
        default=30,
        help="days of history in the full build (default 30); the new day is one more",
    )
    bench.add_argument("--out", default="results/bench", help="folder for <run>.json and .md")
    bench.add_argument(
        "--keep", action="store_true", help="keep the work folder (data, warehouses, logs)"
    )
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
