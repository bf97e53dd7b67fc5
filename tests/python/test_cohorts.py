"""`lpa export-cohorts`: Amplitude Identify batches from a hand-built DuckDB warehouse, sent to
a local HTTP server (no network)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llm_product_analytics import cohorts
from llm_product_analytics.cli import main
from llm_product_analytics.warehouse import pg_env

from warehouse_tables import create_duckdb, create_postgres

SECRET = "test-amplitude-key-0123456789abcdef"

# experiment_id, person_id, user_id, device_id, variant, is_included
ASSIGNMENTS = [
    ("exp_a", "p01", "user_00001", "dev_00001", "control", True),
    ("exp_a", "p02", None, "dev_00002", "treatment", True),  # anonymous: device_id
    ("exp_a", "p03", "user_00003", "dev_00003", None, False),  # multi-variant: excluded
    ("exp_a", "p04", None, None, "control", True),  # no id at all: skipped
    ("exp_a", "p05", "u5", "dev_00005", "treatment", True),  # user_id too short: device_id
    ("exp_b", "p01", "user_00001", "dev_00001", "treatment", True),  # second experiment
] + [("exp_c", f"p{n:02d}", f"user_{n:05d}", None, "control", True) for n in range(10, 17)]


def _create_tables(execute: Callable[..., object]) -> None:
    """The input tables, through `execute(sql, params)` (`?` placeholders, portable DDL)."""
    execute("create schema marts")
    execute(
        """
        create table marts.fct_experiment_assignments (
            experiment_id text, person_id text, user_id text, device_id text, variant text,
            first_exposure_at timestamp, exposure_count bigint, variant_count integer,
            is_multi_variant boolean, is_included boolean
        )
        """
    )
    for exp, person, user, device, variant, included in ASSIGNMENTS:
        execute(
            "insert into marts.fct_experiment_assignments values "
            "(?, ?, ?, ?, ?, timestamp '2026-07-01 10:00:00', 3, ?, ?, ?)",
            [exp, person, user, device, variant, 1 if included else 2, not included, included],
        )


def _create_warehouse(path: Path) -> Path:
    return create_duckdb(path, _create_tables)


def _create_postgres(params: dict[str, str]) -> None:
    create_postgres(params, _create_tables)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return _create_warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables; the local test server must be reached directly."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")


class IdentifyServer:
    """A local stand-in for https://api2.amplitude.com/identify.

    `statuses` is the sequence of status codes to answer (then 200 for ever, or
    `default_status`). Every request's form fields are recorded.
    """

    def __init__(self, statuses: list[int] | None = None, default_status: int = 200) -> None:
        self.statuses = list(statuses or [])
        self.default_status = default_status
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8"))
                server.requests.append(
                    {key: values[0] for key, values in form.items()}
                    | {"content_type": self.headers.get("Content-Type", "")}
                )
                status = server.statuses.pop(0) if server.statuses else server.default_status
                body = json.dumps({"code": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/identify"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> IdentifyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def batches(self) -> list[list[dict]]:
        return [json.loads(r["identification"]) for r in self.requests]


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LPA_TEST_AMPLITUDE_KEY", SECRET)
    return "LPA_TEST_AMPLITUDE_KEY"


def _written(out: Path) -> list[list[dict]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("identify_batch_*.json"))]


def _export(warehouse: Path, out: Path, *extra: str) -> int:
    return main(["export-cohorts", "--duckdb-path", str(warehouse), "--out", str(out), *extra])


# ------------------------------------------------------------------ files


def test_batches_written_in_order_with_both_property_forms(warehouse, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert _export(warehouse, out, "--batch-size", "3") == 0
    batches = _written(out)
    assert [len(b) for b in batches] == [3, 3, 3, 2]  # 11 identifications, batch size 3
    flat = [ident for batch in batches for ident in batch]
    assert flat[0] == {
        "user_id": "user_00001",
        "user_properties": {
            "$set": {
                "experiment_id": "exp_a",
                "experiment_group": "control",
                "exp_exp_a": "control",
            }
        },
    }
    ids = [
        (i.get("user_id") or i["device_id"], i["user_properties"]["$set"]["experiment_id"])
        for i in flat
    ]
    assert ids == [
        ("user_00001", "exp_a"),
        ("dev_00002", "exp_a"),  # no user_id: device_id
        ("dev_00005", "exp_a"),  # user_id 'u5' is too short for Amplitude: device_id
        ("user_00001", "exp_b"),
    ] + [(f"user_{n:05d}", "exp_c") for n in range(10, 17)]
    assert "device_id" not in flat[0]  # user_id wins when present
    assert flat[3]["user_properties"]["$set"]["exp_exp_b"] == "treatment"
    printed = capsys.readouterr().out
    assert "11 identifications for 10 persons in 4 batches" in printed
    assert "skipped 1 assignments (1 persons)" in printed


def test_multi_variant_and_excluded_persons_are_not_exported(warehouse, tmp_path) -> None:
    out = tmp_path / "out"
    assert _export(warehouse, out) == 0
    flat = [ident for batch in _written(out) for ident in batch]
    assert len(_written(out)) == 1  # default batch size holds everything
    assert all(i.get("user_id") != "user_00003" for i in flat)
    assert all(i.get("device_id") != "dev_00003" for i in flat)
    assert all(i["user_properties"]["$set"]["experiment_group"] for i in flat)


def test_experiment_filter_and_stale_files_removed(warehouse, tmp_path) -> None:
    out = tmp_path / "out"
    assert _export(warehouse, out, "--batch-size", "1") == 0
    assert len(_written(out)) == 11
    assert _export(warehouse, out, "--experiment", "exp_b", "--experiment", "exp_c") == 0
    batches = _written(out)
    assert len(batches) == 1  # the ten one-item files of the first run are gone
    assert {i["user_properties"]["$set"]["experiment_id"] for i in batches[0]} == {
        "exp_b",
        "exp_c",
    }


def test_batch_size_above_amplitude_limit_is_refused(warehouse, tmp_path) -> None:
    with pytest.raises(SystemExit) as exc:
        _export(warehouse, tmp_path / "out", "--batch-size", str(cohorts.MAX_BATCH_SIZE + 1))
    assert exc.value.code == 2


def test_batches_are_also_cut_by_request_bytes() -> None:
    idents = [
        cohorts.identification(
            {"experiment_id": "e", "variant": "v" * 300, "user_id": f"user_{n:05d}"}
        )
        for n in range(20)
    ]
    batches = cohorts.make_batches(idents, batch_size=1999, max_bytes=5_000)
    assert len(batches) > 1
    assert [i for b in batches for i in b] == idents
    for batch in batches:
        body = urllib.parse.urlencode(
            {"api_key": "k" * 32, "identification": json.dumps(batch, separators=(",", ":"))}
        )
        assert len(body) <= 5_000


# ------------------------------------------------------------------ sending


def test_sent_batches_equal_written_batches_and_key_is_not_printed(
    warehouse, tmp_path, api_key, capsys
) -> None:
    out = tmp_path / "out"
    with IdentifyServer() as server:
        code = _export(
            warehouse, out, "--batch-size", "4", "--send", server.url, "--api-key-env", api_key
        )
    assert code == 0
    assert server.batches() == _written(out)
    assert len(server.requests) == 3
    assert {r["api_key"] for r in server.requests} == {SECRET}
    assert all(
        r["content_type"].startswith("application/x-www-form-urlencoded") for r in server.requests
    )
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "sent 3 of 3 batches" in captured.out
    assert all(SECRET not in p.read_text() for p in out.iterdir())


def test_429_twice_then_200_is_retried_and_succeeds(warehouse, tmp_path, api_key, capsys) -> None:
    out = tmp_path / "out"
    with IdentifyServer(statuses=[429, 429]) as server:
        code = _export(
            warehouse,
            out,
            "--send",
            server.url,
            "--api-key-env",
            api_key,
            "--backoff-base",
            "0.01",
        )
    assert code == 0
    assert len(server.requests) == 3  # one batch, two throttled attempts + the accepted one
    assert server.batches()[0] == server.batches()[2] == _written(out)[0]
    assert "sent 1 of 1 batches" in capsys.readouterr().out


def test_permanent_400_is_reported_not_retried_and_exit_code_is_1(
    warehouse, tmp_path, api_key, capsys
) -> None:
    out = tmp_path / "out"
    with IdentifyServer(default_status=400) as server:
        code = _export(
            warehouse,
            out,
            "--batch-size",
            "5",
            "--send",
            server.url,
            "--api-key-env",
            api_key,
            "--backoff-base",
            "0.01",
        )
    assert code == 1
    assert len(server.requests) == 3  # three batches, each tried once: 400 is not retried
    captured = capsys.readouterr()
    assert "sent 0 of 3 batches" in captured.out
    assert "FAILED identify_batch_00001.json" in captured.err
    assert "FAILED identify_batch_00002.json" in captured.err
    assert "HTTP 400" in captured.err
    assert SECRET not in captured.out + captured.err


def test_server_errors_exhaust_retries(warehouse, tmp_path, api_key, capsys) -> None:
    with IdentifyServer(default_status=503) as server:
        code = _export(
            warehouse,
            tmp_path / "out",
            "--send",
            server.url,
            "--api-key-env",
            api_key,
            "--max-retries",
            "2",
            "--backoff-base",
            "0.01",
        )
    assert code == 1
    assert len(server.requests) == 3  # first attempt + 2 retries
    assert "gave up after 3 attempts" in capsys.readouterr().err


def test_connection_errors_are_retried(warehouse, tmp_path, api_key, capsys) -> None:
    with IdentifyServer() as server:
        url = server.url  # the port is free again once the server is closed
    code = _export(
        warehouse,
        tmp_path / "out",
        "--send",
        url,
        "--api-key-env",
        api_key,
        "--max-retries",
        "1",
        "--backoff-base",
        "0.01",
        "--timeout",
        "2",
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "connection error" in err
    assert "gave up after 2 attempts" in err


def test_backoff_doubles_and_honours_retry_after() -> None:
    assert [cohorts._delay(a, 15.0, None) for a in (1, 2, 3)] == [15.0, 30.0, 60.0]
    assert cohorts._delay(1, 15.0, "40") == 40.0
    assert cohorts._delay(10, 15.0, None) == cohorts.MAX_BACKOFF


def test_missing_api_key_variable_is_a_clear_error(
    warehouse, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("LPA_UNSET_KEY", raising=False)
    with IdentifyServer() as server:
        code = _export(
            warehouse, tmp_path / "out", "--send", server.url, "--api-key-env", "LPA_UNSET_KEY"
        )
    assert code == 2
    assert server.requests == []
    assert "LPA_UNSET_KEY" in capsys.readouterr().err


def test_dry_run_sends_nothing(warehouse, tmp_path, api_key, capsys) -> None:
    out = tmp_path / "out"
    with IdentifyServer() as server:
        code = _export(warehouse, out, "--send", server.url, "--api-key-env", api_key, "--dry-run")
    assert code == 0
    assert server.requests == []
    assert len(_written(out)) == 1
    assert "dry run: would POST 1 batches" in capsys.readouterr().out


def test_missing_warehouse_file_is_reported(tmp_path, capsys) -> None:
    code = _export(tmp_path / "nope.duckdb", tmp_path / "out")
    assert code == 1
    assert "does not exist" in capsys.readouterr().err


def test_postgres_target_writes_the_same_batches(
    fresh_database, warehouse, tmp_path, monkeypatch
) -> None:
    _create_postgres(fresh_database)
    for var, value in pg_env(fresh_database).items():
        monkeypatch.setenv(var, value)
    pg_out, duck_out = tmp_path / "pg", tmp_path / "duck"
    extra = ["--experiment", "exp_a", "exp_c", "--batch-size", "4"]
    assert main(["export-cohorts", "--target", "postgres", "--out", str(pg_out), *extra]) == 0
    assert _export(warehouse, duck_out, *extra) == 0
    assert _written(pg_out) == _written(duck_out)
    assert len(_written(pg_out)) == 3  # exp_a: 3 + exp_c: 7 identifications
