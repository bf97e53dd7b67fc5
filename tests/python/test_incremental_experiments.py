# ruff: noqa: E501  (fixture rows read best one per line)
"""An incremental build recomputes the experiment values of every person its changes touch,
including a person who only lost events.

Delivery 1 (2026-07-01): A logs in on a shared device, is exposed to onboarding_copy_v2
(treatment) and leaves; an anonymous export follows on the device, which belongs to A while
no other login follows. Delivery 2 (2026-07-07): B logs in on the device. The anonymous export
now belongs to B (anonymous use after A's last event goes to the next user), days before the
window. A keeps the assignment but loses the export: A's values must be recomputed although
no event of A's is new (A is only a `prior` person of the moved event).
"""

from __future__ import annotations

from pathlib import Path

from dbt_harness import query_duckdb, run_dbt
from tiny_raw import amplitude_event, deliver_amplitude

BUILD = ["build", "--exclude", "resource_type:test", "resource_type:unit_test"]
DEVICE, A, B = "shared-device", "user_a", "user_b"
EXPERIMENT = "onboarding_copy_v2"


def _event(uuid: str, at: str, user: str | None, event_type: str, properties: dict) -> dict:
    return amplitude_event(
        uuid=uuid, device_id=DEVICE, user_id=user, event_type=event_type, amplitude_id=None,
        event_time=at, client_event_time=at, server_received_time=at, server_upload_time=at,
        processed_time=at, client_upload_time=at, session_id=1782900000000,
        event_properties=properties, **{"$insert_id": "ins-" + uuid},
    )  # fmt: skip


DELIVERIES = {
    1: [
        _event("a-login", "2026-07-01 09:00:00.000000", A, "page_view", {}),
        _event("a-exposure", "2026-07-01 09:01:00.000000", A, "$exposure", {"flag_key": EXPERIMENT, "variant": "treatment"}),
        _event("anon-export", "2026-07-01 10:00:00.000000", None, "result_exported", {}),
        _event("a-later", "2026-07-06 09:00:00.000000", None, "page_view", {}),
    ],
    2: [
        _event("b-login", "2026-07-07 09:00:00.000000", B, "page_view", {}),
    ],
}  # fmt: skip


def deliver(raw: Path, k: int) -> None:
    deliver_amplitude(raw, k, DELIVERIES[k])


def conversion(path: Path) -> dict[str, float]:
    rows = query_duckdb(
        path,
        "select p.primary_user_id as user_id, m.metric_value"
        " from marts.fct_experiment_person_metrics as m"
        " inner join marts.dim_persons as p on m.person_id = p.person_id"
        f" where m.experiment_id = '{EXPERIMENT}' and m.metric_name = 'export_conversion'",
    )
    return {r["user_id"]: r["metric_value"] for r in rows}


def test_incremental_recomputes_a_person_who_only_lost_events(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    deliver(raw, 1)
    chain = tmp_path / "chain"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=chain)
    assert conversion(chain / "warehouse.duckdb") == {A: 1.0}

    deliver(raw, 2)
    run_dbt(BUILD, target="duckdb", raw_path=raw, work_dir=chain)
    path = chain / "warehouse.duckdb"
    keys = query_duckdb(
        path,
        "select k.event_version, p.primary_user_id as user_id"
        " from intermediate.int_events__changed_keys as k"
        " left join marts.dim_persons as p on k.person_id = p.person_id"
        " where k.event_version in ('prior', 'current')",
    )
    # The export moved from A to B; nothing of A's is new.
    assert {(r["event_version"], r["user_id"]) for r in keys} >= {("prior", A), ("current", B)}
    assert ("current", A) not in {(r["event_version"], r["user_id"]) for r in keys}
    assert conversion(path) == {A: 0.0}

    full = tmp_path / "full"
    run_dbt([*BUILD, "--full-refresh"], target="duckdb", raw_path=raw, work_dir=full)
    for table in [
        "intermediate.int_experiment__exposures",
        "intermediate.int_experiment__person_values",
        "marts.fct_experiment_assignments",
        "marts.fct_experiment_person_metrics",
    ]:
        sql = f"select * from {table} order by all"
        assert query_duckdb(path, sql) == query_duckdb(full / "warehouse.duckdb", sql), table
