"""Cut one generated raw folder into successive deliveries, as the upstream systems would
have delivered them over time (for the incremental-build tests).

    plan = plan_deliveries(raw_dir, n=4)
    for k in range(1, 5):
        apply_delivery(plan, raw_dir, target_dir, k)   # target_dir now holds deliveries 1..k
        ...build incrementally...

- Split points t1 < ... < t(n-1): the k/n quantiles (nearest rank) of `server_upload_time`
  over every Amplitude event line that has one.
- Amplitude event lines go to delivery k when t(k-1) < server_upload_time <= t(k); lines that
  are not JSON objects or lack a parseable server_upload_time go to delivery 1. Delivery k
  adds, next to every original file with lines in it, `<name>.d<k>.json.gz` holding those
  lines byte for byte in their original order.
- Merged-id lines likewise, by `merge_server_time` (else `merge_time`, epoch milliseconds).
- Dify CSVs are cumulative table snapshots (a database export): after delivery k each
  `dify/<table>.csv` holds the header and every original record with `created_at` <= t(k)
  (no parseable created_at, or no such column: delivery 1), each record's text copied
  verbatim (so NULL vs "" and multi-line quoted fields survive), in the original order. The
  last snapshot is byte-identical to the original file.
- Everything else (ground_truth/, ground_truth.json) arrives with delivery 1, unchanged.
- Every file of delivery k gets the modification time `plan.mtimes[k - 1]` (one hour after the
  delivery's last upload time, strictly increasing), so DuckDB's `_loaded_at` (the file's
  mtime) is reproducible across folders and runs.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gzip
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llm_product_analytics.load import csv_field_limit

AMPLITUDE_SUFFIX = ".json.gz"
MERGE_IDS_DIR = "merge_ids"
DELIVERY_GAP = dt.timedelta(hours=1)  # a delivery lands this long after its last upload
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class CsvFile:
    header: str  # the header record's text, line end included
    records: tuple[str, ...]  # each record's text, line end(s) included
    deliveries: tuple[int, ...]  # delivery of each record


@dataclass(frozen=True)
class DeliveryPlan:
    n: int
    split_points: tuple[dt.datetime, ...]  # t1 < ... < t(n-1), naive UTC
    mtimes: tuple[int, ...]  # epoch seconds of each delivery's files
    # relative path (posix) of each original Amplitude file -> its lines' deliveries
    amplitude: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dify: dict[str, CsvFile] = field(default_factory=dict)
    other_files: tuple[str, ...] = ()  # copied unchanged with delivery 1

    def delivery_of(self, when: dt.datetime | None) -> int:
        """1 for None, else the k with t(k-1) < when <= t(k)."""
        if when is None:
            return 1
        return bisect.bisect_left(self.split_points, when) + 1


def delivery_name(rel: str, k: int) -> str:
    """`amplitude/d/X.json.gz` -> `amplitude/d/X.d<k>.json.gz`."""
    if not rel.endswith(AMPLITUDE_SUFFIX):
        raise ValueError(f"not an Amplitude file name: {rel}")
    return f"{rel[: -len(AMPLITUDE_SUFFIX)]}.d{k}{AMPLITUDE_SUFFIX}"


# ---------------------------------------------------------------- reading the originals


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a decompressed JSON-lines file, without their `\\n`."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def read_gz_lines(path: Path) -> list[bytes]:
    return split_lines(gzip.decompress(path.read_bytes()))


def parse_timestamp(value: object) -> dt.datetime | None:
    """Contract timestamp text (`YYYY-MM-DD HH:MM:SS[.f]`, `T` accepted) -> naive UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def parse_epoch_ms(value: object) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        ms = float(value)
    except ValueError:
        return None
    if not math.isfinite(ms):
        return None
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None


def _json_object(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def event_upload_time(line: bytes) -> dt.datetime | None:
    record = _json_object(line)
    return parse_timestamp(record.get("server_upload_time")) if record else None


def merge_time(line: bytes) -> dt.datetime | None:
    record = _json_object(line)
    if record is None:
        return None
    value = record.get("merge_server_time")
    if value is None:
        value = record.get("merge_time")
    return parse_epoch_ms(value)


def csv_records(text: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """The header text and every record as (its exact text, its fields as csv reads them).

    csv.reader pulls physical lines one at a time and returns a record as soon as one is
    complete, so the lines consumed for a record are exactly its text (a quoted field may
    span several lines). Checked: the texts concatenate back to `text`, and each text read
    alone gives the same fields.
    """
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    records: list[tuple[str, list[str]]] = []
    with csv_field_limit():
        reader = csv.reader(lines())
        header_fields = next(reader, None)
        header = "".join(consumed)
        consumed.clear()
        for fields in reader:
            records.append(("".join(consumed), fields))
            consumed.clear()
        for record_text, fields in records:
            alone = list(csv.reader(io.StringIO(record_text, newline="")))
            if alone != [fields]:
                raise ValueError(f"CSV record not self-contained: {record_text[:200]!r}")
    trailing = "".join(consumed)
    if header + "".join(t for t, _ in records) + trailing != text or trailing:
        raise ValueError("CSV records do not concatenate back to the file")
    if header_fields is None:
        raise ValueError("CSV file without a header")
    return header, records


# ---------------------------------------------------------------- the plan


def _quantile_points(times: list[dt.datetime], n: int) -> tuple[dt.datetime, ...]:
    """The k/n quantiles (nearest rank) of times, k = 1..n-1; strictly increasing."""
    if not times:
        raise ValueError("no Amplitude event line with a server_upload_time")
    ordered = sorted(times)
    points = tuple(ordered[math.ceil(k * len(ordered) / n) - 1] for k in range(1, n))
    if any(a >= b for a, b in zip(points, points[1:], strict=False)) or points[-1] >= ordered[-1]:
        raise ValueError(f"too few distinct upload times for {n} deliveries: {points}")
    return points


def plan_deliveries(raw_dir: Path, n: int = 4) -> DeliveryPlan:
    """Decide the delivery of every Amplitude line, merged-id line and Dify record."""
    if n < 2:
        raise ValueError("need at least 2 deliveries")
    raw_dir = Path(raw_dir)
    event_files: dict[str, list[dt.datetime | None]] = {}
    merge_files: dict[str, list[dt.datetime | None]] = {}
    other: list[str] = []
    amplitude = raw_dir / "amplitude"
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(raw_dir).as_posix()
        if path.is_relative_to(amplitude) and path.name.endswith(AMPLITUDE_SUFFIX):
            lines = read_gz_lines(path)
            if path.relative_to(amplitude).parts[0] == MERGE_IDS_DIR:
                merge_files[rel] = [merge_time(line) for line in lines]
            else:
                event_files[rel] = [event_upload_time(line) for line in lines]
        elif rel.startswith("dify/") and rel.endswith(".csv"):
            pass  # planned below, once the split points are known
        else:
            other.append(rel)

    upload_times = [t for times in event_files.values() for t in times if t is not None]
    points = _quantile_points(upload_times, n)
    last = max(upload_times)
    mtimes: list[int] = []
    for upper in (*points, last):
        stamp = int((upper + DELIVERY_GAP - _EPOCH).total_seconds())
        mtimes.append(max(stamp, mtimes[-1] + 1) if mtimes else stamp)
    plan = DeliveryPlan(n=n, split_points=points, mtimes=tuple(mtimes), other_files=tuple(other))

    for files in (event_files, merge_files):
        for rel, times in files.items():
            plan.amplitude[rel] = tuple(plan.delivery_of(t) for t in times)

    for path in sorted((raw_dir / "dify").glob("*.csv")):
        rel = path.relative_to(raw_dir).as_posix()
        with open(path, encoding="utf-8", newline="") as handle:
            header, records = csv_records(handle.read())
        with csv_field_limit():
            columns = next(csv.reader([header]))
        at = columns.index("created_at") if "created_at" in columns else None
        deliveries = tuple(
            plan.delivery_of(parse_timestamp(fields[at]))
            if at is not None and len(fields) == len(columns)
            else 1
            for _, fields in records
        )
        plan.dify[rel] = CsvFile(header, tuple(t for t, _ in records), deliveries)
    return plan


# ---------------------------------------------------------------- writing a delivery


def _write(path: Path, data: bytes, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def delivery_lines(plan: DeliveryPlan, raw_dir: Path, rel: str, k: int) -> list[bytes]:
    """The lines of original Amplitude file `rel` that arrive with delivery k."""
    lines = read_gz_lines(Path(raw_dir) / rel)
    return [line for line, d in zip(lines, plan.amplitude[rel], strict=True) if d == k]


def dify_snapshot(plan: DeliveryPlan, rel: str, k: int) -> str:
    """Text of `dify/<table>.csv` as exported right after delivery k."""
    table = plan.dify[rel]
    return table.header + "".join(
        text for text, d in zip(table.records, table.deliveries, strict=True) if d <= k
    )


def apply_delivery(plan: DeliveryPlan, raw_dir: Path, target_dir: Path, k: int) -> None:
    """Make target_dir hold deliveries 1..k: write the Amplitude files of every delivery up
    to k that are not there yet, the Dify snapshots as of delivery k, and (once) the other
    files. target_dir must not already hold a later delivery."""
    if not 1 <= k <= plan.n:
        raise ValueError(f"delivery {k} outside 1..{plan.n}")
    raw_dir, target_dir = Path(raw_dir), Path(target_dir)
    for rel in plan.amplitude:
        for later in range(k + 1, plan.n + 1):
            if (target_dir / delivery_name(rel, later)).exists():
                raise ValueError(f"{target_dir} already holds delivery {later}")

    for rel in plan.other_files:
        if not (target_dir / rel).exists():
            _write(target_dir / rel, (raw_dir / rel).read_bytes(), plan.mtimes[0])
    for rel, deliveries in plan.amplitude.items():
        for j in sorted(set(deliveries)):
            out = target_dir / delivery_name(rel, j)
            if j > k or out.exists():
                continue
            lines = delivery_lines(plan, raw_dir, rel, j)
            # gzip header with mtime 0 and no name, like the generator: reproducible bytes
            data = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
            _write(out, data, plan.mtimes[j - 1])
    for rel in plan.dify:
        _write(target_dir / rel, dify_snapshot(plan, rel, k).encode("utf-8"), plan.mtimes[k - 1])
