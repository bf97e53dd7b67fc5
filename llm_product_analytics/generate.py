"""Sample data in the real upstream formats (Amplitude S3 export + Dify Postgres CSVs),
with the planted truth in ground_truth.json.

    generate(Path("data/raw"), users=1500, days=30, seed=42)

Layout (see docs/input-contract.md):
    amplitude/<YYYY-MM-DD>/434735_<YYYY-MM-DD>_<H>#<n>.json.gz   events by upload hour
    amplitude/merge_ids/434735_<YYYY-MM-DD>_<H>.json.gz          merged Amplitude ids
    dify/<table>.csv                                               nine Dify tables
    ground_truth.json, ground_truth/{identity,persons,shared_device_events}.csv

Pipeline: generate_world (persons, devices, sessions, login state) -> generate_behaviour
(funnel, chats, runs, feedback, exposures) -> generate_amplitude / generate_dify (rows and
delivery quirks, numeric) -> generate_output + generate_amplitude_sql / generate_dify_sql
(DuckDB formatting, files) -> generate_truth (reference metrics). Same arguments give
byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from llm_product_analytics.generate_amplitude import build_amplitude
from llm_product_analytics.generate_behaviour import GROUP_IDENTIFY, IDENTIFY, simulate_behaviour
from llm_product_analytics.generate_dify import build_dify
from llm_product_analytics.generate_dify_sql import write_dify
from llm_product_analytics.generate_output import (
    connect,
    load_amplitude_tables,
    plan_bad_amplitude,
    template_record,
    uid,
    write_amplitude,
    write_merges,
)
from llm_product_analytics.generate_truth import (
    experiments,
    funnel,
    prompt_versions,
    retention,
    write_identity,
)
from llm_product_analytics.generate_world import DAY, US, Plan, simulate_world

OUTPUTS = ("amplitude", "dify", "ground_truth", "ground_truth.json")


def generate(
    out_dir: Path,
    users: int,
    days: int,
    seed: int,
    start_date: str = "2026-07-01",
    bad_rows: bool = True,
) -> dict:
    """Write the sample deliveries into out_dir and return the ground truth.

    users = true persons (about 80 % of them log in); days = length of the window starting
    at start_date (UTC). With bad_rows=False the planted bad input is left out.
    """
    if users < 20 or days < 2:
        raise ValueError("generate needs at least 20 users and 2 days")
    out_dir = Path(out_dir)
    _wipe(out_dir)
    plan = Plan()
    rng = np.random.default_rng(seed)
    start_us = pd.Timestamp(start_date).value // 1000
    world = simulate_world(rng, plan, users, days, start_us)
    beh = simulate_behaviour(rng, plan, world)
    dify = build_dify(rng, world, beh, bad_rows)
    amp = build_amplitude(rng, plan, world, beh)

    con = connect(seed)
    load_amplitude_tables(con, world, amp)
    bad_amp = plan_bad_amplitude(amp, seed, template_record(con, seed)) if bad_rows else {}
    write_amplitude(con, out_dir, amp, bad_amp, seed)
    bad_merge = write_merges(con, out_dir, amp.merges, bad_rows)
    dify.rows = write_dify(con, out_dir, dify, world, seed)
    bad_list = [b for entries in bad_amp.values() for b in entries] + bad_merge

    truth = {
        "seed": seed,
        "users": users,
        "days": days,
        "start_date": start_date,
        "end_date": pd.Timestamp(start_us + (days - 1) * DAY, unit="us").strftime("%Y-%m-%d"),
        **_ground_truth(con, seed, plan, world, beh, dify, amp, bad_list, bad_merge),
    }
    write_identity(con, out_dir, world, beh, amp, dify)
    con.close()
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _ground_truth(con, seed, plan, world, beh, dify, amp, bad_list, bad_merge) -> dict:
    def ids(kind: str, i: int) -> str:
        return uid(seed, kind, i)

    return {
        **_persons_summary(world),
        "counts": _counts(amp, dify, bad_list, bad_merge),
        "retention": retention(world, amp, dify, plan),
        "funnel": funnel(con, amp, dify, plan),
        "experiments": experiments(world, beh, amp),
        "prompt_versions": prompt_versions(dify, plan, ids),
        "identity": _identity_summary(world),
        "delivery": _delivery_summary(amp),
        "bad_rows": [{k: v for k, v in b.items() if k != "text"} for b in bad_list]
        + _dify_bad_list(dify, ids),
        "planted": plan.as_dict(),
        "ids": {
            "amplitude_project": 434735,
            "chat_app_id": ids("app", 0),
            "workflow_app_id": ids("app", 1),
            "tenant_id": ids("tenant", 0),
            "account_ids": [ids("account", i) for i in range(3)],
        },
    }


def _wipe(out_dir: Path) -> None:
    """Remove only what generate writes, so reruns are clean and nothing else is touched."""
    for name in OUTPUTS:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _persons_summary(world) -> dict:
    identified = int(world.persons["identified"].sum())
    return {
        "true_persons": world.users,
        "identified_persons": identified,
        "anonymous_persons": world.users - identified,
    }


def _counts(amp, dify, bad_list: list[dict], bad_merge: list[dict]) -> dict:
    kind_of_line = amp.lines["kind_of_line"].to_numpy()
    amp_bad: dict[str, int] = {}
    for b in bad_list:
        if b["source"] == "amplitude":
            amp_bad[b["reason"]] = amp_bad.get(b["reason"], 0) + 1
    kinds = amp.events["kind"].to_numpy()
    return {
        "amplitude_lines": int(len(amp.lines) + sum(amp_bad.values())),
        "amplitude_unique_events": int(len(amp.events)),
        "amplitude_identify_events": int(np.isin(kinds, (IDENTIFY, GROUP_IDENTIFY)).sum()),
        "amplitude_uuid_duplicates": int((kind_of_line == 2).sum()),
        "amplitude_insert_id_duplicates": int((kind_of_line == 1).sum()),
        "amplitude_bad_rows": amp_bad,
        "amplitude_files": int(len(amp.files)),
        "merge_id_lines": int(len(amp.merges) + len(bad_merge)),
        "merge_id_bad_rows": len(bad_merge),
        "merge_id_files": int(amp.merges["name"].nunique()),
        "dify_rows": dify.rows,
        "dify_bad_rows": dify.bad,
        "dify_rows_total": int(sum(dify.rows.values())),
        "debugger_messages": dify.debugger_messages,
    }


def _identity_summary(world) -> dict:
    s = world.sessions
    return {
        "devices": int(s["device"].nunique()),
        "shared_devices": int(world.devices["shared"].sum()),
        "second_device_users": int((world.persons["second_device"] >= 0).sum()),
        "logins": int(s["login_now"].sum()),
        "merges": int(s["merge"].sum()),
        "rule": "anonymous events after user A logged out and before user B logs in on the same "
        "device carry A's amplitude_id but belong to B; ground_truth/shared_device_events.csv "
        "lists the true person of every anonymous event on a shared device",
        "files": [
            "ground_truth/identity.csv",
            "ground_truth/persons.csv",
            "ground_truth/shared_device_events.csv",
        ],
    }


def _delivery_summary(amp) -> dict:
    ev = amp.events
    return {
        "late_events": int(ev["late"].sum()),
        "missing_insert_id_events": int((ev["insert_mode"] == 1).sum()),
        "clock_skewed_events": int((ev["cet"] - ev["t"] >= 60 * US).sum()),
        "t_separator_file": str(amp.files.loc[amp.t_file, "name"]),
    }


def _dify_bad_list(dify, ids) -> list[dict]:
    """The planted Dify rows by id (the `bad` code of generate_dify._bad_rows)."""
    id_kind = {"messages": "msg", "message_feedbacks": "fb", "end_users": "eu"}
    reasons = {
        ("messages", 1): "unknown_enum",
        ("messages", 2): "broken_reference",
        ("message_feedbacks", 1): "broken_reference",
        ("end_users", 1): "unknown_enum",
    }
    out = []
    for table, kind in id_kind.items():
        frame = dify.tables[table]
        for key, code in zip(
            frame[kind][frame["bad"] > 0], frame["bad"][frame["bad"] > 0], strict=True
        ):
            out.append(
                {
                    "source": "dify",
                    "file": f"dify/{table}.csv",
                    "reason": reasons[(table, int(code))],
                    "id": ids(kind, int(key)),
                }
            )
    return out
