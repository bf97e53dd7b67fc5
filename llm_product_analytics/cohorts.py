"""Sync experiment cohorts to Amplitude as user properties (Identify API batches).

Every included assignment with a variant in `marts.fct_experiment_assignments` becomes one
identification of the Amplitude Identify API (`POST https://api2.amplitude.com/identify`, form
fields `api_key` and `identification` = a JSON array of identifications; amplitude-docs
`content/collections/api/en/identify.md`)::

    {"user_id": "...",                      # or "device_id" when the person has no user_id
     "user_properties": {"$set": {"experiment_id": "<experiment_id>",
                                  "experiment_group": "<variant>",
                                  "exp_<experiment_id>": "<variant>"}}}

Why both property forms: the `experiment_id` / `experiment_group` pair is the usual way to
tag a user with "their" experiment, but a user property holds one value, so a person who is
in several experiments keeps only the pair of the identification applied last. The
per-experiment property `exp_<experiment_id>` = variant survives any number of experiments
and is what cohorts and breakdowns in Amplitude should use; the pair is kept for charts and
tools that expect it.

Rules (from the Amplitude docs, read 2026):

* Identity: each identification needs `user_id` or `device_id` ("Required unless ... is
  present"). We send `user_id` when usable, else the person's most recent `device_id`; a
  person with neither is skipped and counted. An id is unusable when it is shorter than 5
  characters or one of the values HTTP V2 rejects with 400 ("anonymous", "null", "-1", ...),
  because one such id would fail the whole batch ("All throttling and status code guidance
  from Amplitude's HTTP V2 API applies to the Identify API").
* Batch size: the Identify page gives no count of its own and defers to HTTP V2, whose limit
  is "Keep request sizes under 1 MB with fewer than 2000 events per request" (else 413). So
  `MAX_BATCH_SIZE` = 1999 identifications (default and maximum of `--batch-size`), and a
  batch is also cut before its form-encoded body reaches 1 MB.
* Status codes and retries: 200 = accepted. 429 = throttled ("pause ... 15 seconds before
  retrying. Continue retrying until you no longer receive status code 429"), 500/502/503/504
  = server error, and connection errors / timeouts are retried with exponential backoff
  (`backoff_base * 2**(attempt-1)`, default base 15 s so the first wait already honours the
  15 s pause; a numeric `Retry-After` header is honoured when longer). Other 4xx (400 bad
  identification, 403 blocked, 413 too large, 414) are permanent: retrying the same body
  cannot succeed. Re-sending an identification is harmless: `$set` is idempotent.

Files: one JSON file per batch, `identify_batch_00001.json`, ... in order of (experiment_id,
person_id), each holding exactly the `identification` array that is (or would be) sent.
Earlier `identify_batch_*.json` files in the output folder are removed first so the folder
always mirrors one run. The API key is never written to the files nor printed.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_product_analytics.warehouse import Warehouse

IDENTIFY_URL = "https://api2.amplitude.com/identify"
MAX_BATCH_SIZE = 1999  # HTTP V2: "fewer than 2000 events per request"
MAX_REQUEST_BYTES = 1_000_000  # HTTP V2: "Keep request sizes under 1 MB"
MIN_ID_LENGTH = 5  # HTTP V2: ids shorter than 5 characters are dropped
# HTTP V2 "Invalid IDs that result in a 400 error" (compared case-insensitively).
INVALID_IDS = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)
BATCH_FILE_PATTERN = "identify_batch_*.json"
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_BASE = 15.0  # seconds; the Identify docs ask for a 15 s pause after a 429
MAX_BACKOFF = 300.0
DEFAULT_TIMEOUT = 30.0
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Room kept for "api_key=<key>&" when cutting batches by size; project keys are 32 hex chars.
_API_KEY_ALLOWANCE = 256

ASSIGNMENTS_SQL = """
select
    experiment_id,
    person_id,
    user_id,
    device_id,
    variant
from marts.fct_experiment_assignments
where is_included
    and variant is not null
    {experiment_filter}
order by experiment_id, person_id
"""


@dataclass
class CohortExport:
    """What `export_cohorts` wrote."""

    batches: list[list[dict[str, Any]]]
    files: list[Path]
    identifications: int
    persons: int
    skipped_assignments: int
    skipped_persons: int

    def summary_lines(self) -> list[str]:
        return [
            f"{self.identifications} identifications for {self.persons} persons "
            f"in {len(self.batches)} batches",
            f"skipped {self.skipped_assignments} assignments ({self.skipped_persons} persons) "
            "without a usable user_id or device_id",
        ]


@dataclass
class BatchResult:
    """Outcome of sending one batch."""

    index: int
    file: Path | None
    size: int
    ok: bool
    attempts: int
    status: int | None = None
    error: str = ""
    history: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ building the batches


def usable_id(value: Any) -> str | None:
    """The id as Amplitude accepts it, or None (missing, too short or a rejected value)."""
    if value is None:
        return None
    text = str(value).strip()
    if len(text) < MIN_ID_LENGTH or text.lower() in INVALID_IDS:
        return None
    return text


def identification(row: dict[str, Any]) -> dict[str, Any] | None:
    """The identification of one assignment row, or None when it has no usable id."""
    experiment_id, variant = str(row["experiment_id"]), str(row["variant"])
    user_id, device_id = usable_id(row.get("user_id")), usable_id(row.get("device_id"))
    if user_id is not None:
        ident: dict[str, Any] = {"user_id": user_id}
    elif device_id is not None:
        ident = {"device_id": device_id}
    else:
        return None
    ident["user_properties"] = {
        "$set": {
            "experiment_id": experiment_id,
            "experiment_group": variant,
            f"exp_{experiment_id}": variant,
        }
    }
    return ident


def _encoded_size(ident: dict[str, Any]) -> int:
    """Bytes the identification adds to the form-encoded body (plus its encoded comma)."""
    return len(urllib.parse.quote_plus(_compact(ident))) + 3


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_batches(
    identifications: Sequence[dict[str, Any]],
    batch_size: int = MAX_BATCH_SIZE,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[list[dict[str, Any]]]:
    """Cut identifications, in order, into batches of at most `batch_size` items and
    `max_bytes` of form-encoded request body."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
    overhead = len("api_key=&identification=%5B%5D") + _API_KEY_ALLOWANCE
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_bytes = overhead
    for ident in identifications:
        size = _encoded_size(ident)
        if current and (len(current) >= batch_size or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], overhead
        current.append(ident)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def fetch_assignments(
    warehouse: Warehouse, experiments: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Included assignments with a variant, ordered by experiment_id, person_id."""
    experiments = list(dict.fromkeys(experiments or []))
    experiment_filter = ""
    if experiments:
        experiment_filter = f"and experiment_id in ({', '.join('?' for _ in experiments)})"
    sql = ASSIGNMENTS_SQL.format(experiment_filter=experiment_filter)
    rows = warehouse.query(sql, experiments)
    # Sorted again in Python: PostgreSQL's collation may order text differently from DuckDB.
    return sorted(rows, key=lambda r: (str(r["experiment_id"]), str(r["person_id"])))


def write_batches(batches: Sequence[list[dict[str, Any]]], out_dir: Path) -> list[Path]:
    """One JSON file per batch; earlier batch files in `out_dir` are removed first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(BATCH_FILE_PATTERN):
        old.unlink()
    files = []
    for number, batch in enumerate(batches, start=1):
        path = out_dir / f"identify_batch_{number:05d}.json"
        path.write_text(json.dumps(batch, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        files.append(path)
    return files


def export_cohorts(
    warehouse: Warehouse,
    out_dir: Path,
    experiments: Sequence[str] | None = None,
    batch_size: int = MAX_BATCH_SIZE,
) -> CohortExport:
    """Build the identifications from the warehouse and write them as batch files."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
    rows = fetch_assignments(warehouse, experiments)
    identifications, persons, skipped_persons = [], set(), set()
    skipped = 0
    for row in rows:
        ident = identification(row)
        if ident is None:
            skipped += 1
            skipped_persons.add(row["person_id"])
            continue
        identifications.append(ident)
        persons.add(row["person_id"])
    batches = make_batches(identifications, batch_size)
    files = write_batches(batches, Path(out_dir))
    return CohortExport(
        batches=batches,
        files=files,
        identifications=len(identifications),
        persons=len(persons),
        skipped_assignments=skipped,
        skipped_persons=len(skipped_persons),
    )


# ------------------------------------------------------------------ sending


def _post(url: str, body: bytes, timeout: float) -> tuple[int | None, str, str | None]:
    """POST once: (HTTP status or None for a connection error, short detail, Retry-After)."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(500).decode("utf-8", "replace"), None
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
        return exc.code, detail, exc.headers.get("Retry-After") if exc.headers else None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        # refused, reset, DNS failure, timeout, malformed response
        reason = getattr(exc, "reason", exc)
        return None, f"connection error: {reason}", None


def _delay(attempt: int, backoff_base: float, retry_after: str | None) -> float:
    delay = min(backoff_base * 2 ** (attempt - 1), MAX_BACKOFF)
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, min(float(retry_after.strip()), MAX_BACKOFF))
    return delay


def send_batch(
    batch: Sequence[dict[str, Any]],
    url: str,
    api_key: str,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    index: int = 0,
    file: Path | None = None,
) -> BatchResult:
    """POST one batch form-encoded, retrying 429 / 5xx / connection errors."""
    body = urllib.parse.urlencode({"api_key": api_key, "identification": _compact(batch)})
    result = BatchResult(index=index, file=file, size=len(batch), ok=False, attempts=0)
    for attempt in range(1, max_retries + 2):
        status, detail, retry_after = _post(url, body.encode("utf-8"), timeout)
        if api_key:
            detail = detail.replace(api_key, "***")
        detail = " ".join(detail.split())[:200]
        result.attempts, result.status = attempt, status
        if status is not None and 200 <= status < 300:
            result.ok, result.error = True, ""
            return result
        result.error = f"HTTP {status}: {detail}" if status is not None else detail
        result.history.append(result.error)
        retryable = status is None or status in RETRYABLE_STATUS
        if not retryable or attempt > max_retries:
            if retryable:
                result.error += f" (gave up after {attempt} attempts)"
            return result
        sleep(_delay(attempt, backoff_base, retry_after))
    return result  # pragma: no cover - the loop always returns


def send_batches(
    batches: Sequence[Sequence[dict[str, Any]]],
    url: str,
    api_key: str,
    *,
    files: Sequence[Path] | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[BatchResult]:
    """Send every batch in order (a failed batch does not stop the others)."""
    results = []
    for number, batch in enumerate(batches, start=1):
        results.append(
            send_batch(
                batch,
                url,
                api_key,
                max_retries=max_retries,
                backoff_base=backoff_base,
                timeout=timeout,
                sleep=sleep,
                index=number,
                file=files[number - 1] if files else None,
            )
        )
    return results
