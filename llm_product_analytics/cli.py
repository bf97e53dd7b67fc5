"""Command-line entry point `lpa`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
