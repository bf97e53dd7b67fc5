"""Ground truth: what a correct pipeline must find in the generated files.

Computed from the true event log (deduplicated, without bad rows, with each event's true
person), with the reference definitions written into ground_truth.json itself. A pipeline that
dedups, stitches identities and quarantines bad rows correctly reproduces these numbers from
the delivered files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llm_product_analytics.generate_amplitude import NON_ACTIVITY_KINDS, Amplitude
from llm_product_analytics.generate_behaviour import (
    EXPERIMENTS,
    EXPORT,
    EXPOSURE,
    PAGE_VIEW,
    QUERY,
    SUCCEEDED,
    Behaviour,
)
from llm_product_analytics.generate_dify import Dify
from llm_product_analytics.generate_dify_sql import PROMPT_VERSIONS
from llm_product_analytics.generate_world import DAY, PLATFORMS, US, Plan, World

FUNNEL_STEPS = ("page_view", "query_submitted", "workflow_completed", "result_exported")
FUNNEL_WINDOW_S = 86400
VARIANTS = ("control", "treatment")


def person_id(person: int) -> str:
    return f"person_{person + 1:06d}"


def retention(world: World, amp: Amplitude, dify: Dify, plan: Plan) -> dict:
    act = _activity(world, amp, dify)
    act = act[(act["day"] >= 0) & (act["day"] < world.days)]
    active = np.zeros((world.users, world.days), dtype=bool)
    active[act["person"].to_numpy(), act["day"].to_numpy()] = True
    seen = active.any(axis=1)
    first = np.argmax(active, axis=1)[seen]
    rows = np.flatnonzero(seen)
    by_n = {}
    for n in range(1, world.days):
        inside = first + n < world.days
        den = int(inside.sum())
        num = int(active[rows[inside], first[inside] + n].sum())
        by_n[n] = round(num / den, 6) if den else None
    curve = {f"d{n}": round(float(plan.return_probability(n)), 6) for n in range(1, 31)}
    return {
        "definition": "share of true persons first seen on day c (first activity = any "
        "event except $identify, $groupidentify and session start/end, Amplitude or Dify "
        "api traffic) that are active exactly on day c+N, pooled over cohorts whose day c+N "
        "is inside the data (null when no cohort qualifies, e.g. d30 needs days > 30); "
        "days are UTC dates of event_time / created_at",
        "planted_curve": {
            "formula": "r(d) = floor + amplitude * exp(-decay * (d - 1))",
            "floor": plan.retention_floor,
            "amplitude": plan.retention_amplitude,
            "decay": plan.retention_decay,
            **curve,
        },
        "realized": {f"d{n}": by_n.get(n) for n in (1, 7, 30)},
        "realized_by_day": {f"d{n}": v for n, v in by_n.items()},
    }


def _activity(world: World, amp: Amplitude, dify: Dify) -> pd.DataFrame:
    ev = amp.events
    keep = ~ev["kind"].isin(NON_ACTIVITY_KINDS).to_numpy()
    m = _real(dify.tables["messages"], "debugger")
    r = dify.tables["workflow_runs"]
    r = r[~r["debugging"]]
    f = _real(dify.tables["message_feedbacks"], "admin")
    f_person = dify.tables["messages"]["person"].to_numpy()[f["msg"].to_numpy()]
    parts = [
        (ev["person"].to_numpy()[keep], ev["et"].to_numpy()[keep]),
        (m["person"].to_numpy(), m["t"].to_numpy() // US * US),
        (r["person"].to_numpy(), r["start"].to_numpy()),
        (f_person, f["created"].to_numpy()),
        (f_person, f["updated"].to_numpy()),
    ]
    person = np.concatenate([p for p, _ in parts])
    day = (np.concatenate([t for _, t in parts]) - world.start_us) // DAY
    return pd.DataFrame({"person": person, "day": day}).drop_duplicates()


def _real(frame: pd.DataFrame, flag: str) -> pd.DataFrame:
    """Rows of real end users: no planted bad rows, no console traffic."""
    return frame[(frame["bad"] == 0) & ~frame[flag]]


def funnel(con, amp: Amplitude, dify: Dify, plan: Plan) -> dict:
    ev = amp.events[["person", "kind", "et"]]
    m = _real(dify.tables["messages"], "debugger")[["person", "t"]]
    r = dify.tables["workflow_runs"]
    r = r[~r["debugging"] & (r["status"] == SUCCEEDED)][["person", "finish"]]
    con.register("f_ev", ev)
    con.register("f_msg", m)
    con.register("f_run", r)
    w = FUNNEL_WINDOW_S * US
    furthest = con.execute(
        f"""
        WITH pv AS (SELECT person, et AS ts FROM f_ev WHERE kind = {PAGE_VIEW}),
        q AS (SELECT person, et AS ts FROM f_ev WHERE kind = {QUERY}
              UNION ALL SELECT person, t // {US} * {US} FROM f_msg),
        wc AS (SELECT person, finish AS ts FROM f_run),
        ex AS (SELECT person, et AS ts FROM f_ev WHERE kind = {EXPORT}),
        s2 AS (SELECT pv.person, pv.ts AS t1, q.ts AS t2
               FROM pv ASOF LEFT JOIN q ON pv.person = q.person AND pv.ts <= q.ts),
        s3 AS (SELECT s2.*, wc.ts AS t3
               FROM s2 ASOF LEFT JOIN wc ON s2.person = wc.person AND s2.t2 <= wc.ts),
        s4 AS (SELECT s3.*, ex.ts AS t4
               FROM s3 ASOF LEFT JOIN ex ON s3.person = ex.person AND s3.t3 <= ex.ts),
        steps AS (SELECT person,
                    1 + (coalesce(t2 - t1 <= {w}, false))::INT
                      + (coalesce(t3 - t1 <= {w}, false))::INT
                      + (coalesce(t4 - t1 <= {w}, false))::INT AS step
                  FROM s4)
        SELECT step, count(*) AS persons
        FROM (SELECT person, max(step) AS step FROM steps GROUP BY person)
        GROUP BY step ORDER BY step"""
    ).fetchall()
    for name in ("f_ev", "f_msg", "f_run"):
        con.unregister(name)
    counts = dict(furthest)
    reaching = [sum(v for k, v in counts.items() if k >= i + 1) for i in range(4)]
    return {
        "steps": list(FUNNEL_STEPS),
        "planted_step_probabilities": [1.0, plan.p_query, plan.p_completed, plan.p_export],
        "window_seconds": FUNNEL_WINDOW_S,
        "definition": "per true person, attempts start at any page_view; each next step is the "
        "earliest event of that step at or after the previous step, within 86400 s of the "
        "attempt's page_view (inclusive); a person counts once with the furthest step. "
        "query_submitted = Dify api message (created_at) or its Amplitude echo; "
        "workflow_completed = Dify app-run with status succeeded (finished_at; created_at gives "
        "the same result); queries need a logged-in user, so the planted probability of step 2 "
        "applies to logged-in sessions only",
        "realized": {
            "persons_reaching": reaching,
            "furthest_step_persons": {FUNNEL_STEPS[k - 1]: int(v) for k, v in counts.items()},
        },
    }


def experiments(world: World, beh: Behaviour, amp: Amplitude) -> dict:
    ev = amp.events
    out = {}
    for e, (flag, _, _) in enumerate(EXPERIMENTS):
        info = beh.experiments[flag]
        out[flag] = {
            "variants": list(VARIANTS),
            "assignment": "md5('<flag_key>:<user_id>') first 8 hex digits as int, mod 2 "
            "(1 = treatment)",
            "start_date": pd.Timestamp(info["start_us"], unit="us").strftime("%Y-%m-%d"),
            "planted_relative_lift": info["planted_relative_lift"],
            "metric": "result_exported per session",
            "definition": "exposed = identified persons with a $exposure event of the flag; "
            "sessions = their distinct session_ids >= the session_id of their first exposure; "
            "result_exported = such events at or after the first exposure; conversions = "
            "exposed persons with at least one of them",
            "realized": _experiment_realized(ev, e, info["variant"]),
        }
    return out


def _experiment_realized(ev: pd.DataFrame, e: int, variant_of_person: np.ndarray) -> dict:
    exposures = ev[(ev["kind"] == EXPOSURE) & (ev["exp"] == e)]
    first = exposures.sort_values(["person", "et"]).groupby("person").first()
    first = first[["et", "session_id"]].add_suffix("_first")
    sessions = ev[ev["session_id"] > 0][["person", "session_id"]].drop_duplicates()
    sessions = sessions.merge(first, left_on="person", right_index=True)
    sessions = sessions[sessions["session_id"] >= sessions["session_id_first"]]
    exports = ev[ev["kind"] == EXPORT][["person", "et"]]
    exports = exports.merge(first, left_on="person", right_index=True)
    exports = exports[exports["et"] >= exports["et_first"]]
    variant = variant_of_person[first.index.to_numpy()]
    realized = {}
    for v, name in enumerate(VARIANTS):
        persons = first.index[variant == v]
        n_sessions = int(sessions["person"].isin(persons).sum())
        mine = exports[exports["person"].isin(persons)]
        realized[name] = {
            "exposed_persons": int(len(persons)),
            "conversions": int(mine["person"].nunique()),
            "sessions": n_sessions,
            "result_exported": int(len(mine)),
            "result_exported_per_session": round(len(mine) / n_sessions, 6) if n_sessions else None,
        }
    return realized


def prompt_versions(dify: Dify, plan: Plan, uid) -> dict:
    m = dify.tables["messages"]
    f = _real(dify.tables["message_feedbacks"], "admin")
    config = m["config"].to_numpy()[f["msg"].to_numpy()]
    real_msgs = _real(m, "debugger")
    rates = (plan.dislike_rate_v1, plan.dislike_rate_v2)
    out = {}
    for c, version in enumerate(PROMPT_VERSIONS):
        mine = f[config == c]
        out[uid("cfg", c)] = {
            "version": version,
            "planted_dislike_rate": rates[c],
            "realized": {
                "messages": int((real_msgs["config"] == c).sum()),
                "rated": int(len(mine)),
                "dislikes": int(mine["dislike"].sum()),
            },
        }
    return out


def write_identity(con, out_dir: Path, world: World, beh: Behaviour, amp: Amplitude, dify: Dify):
    """identity.csv, persons.csv and shared_device_events.csv under ground_truth/."""
    folder = out_dir / "ground_truth"
    folder.mkdir(parents=True, exist_ok=True)
    s = world.sessions
    pairs = s[["device", "person"]].drop_duplicates()
    con.register("t_pairs", pairs)
    con.register("t_ev", amp.events[["person", "user_num", "amp", "platform", "device", "key"]])
    eu = dify.tables["end_users"]
    con.register("t_eu", eu[eu["bad"] == 0][["eu", "person"]])
    owner = world.devices[["device", "owner", "device_amp"]]
    con.register("t_owner", owner)
    con.register("t_pers", world.persons[["person", "user_num", "user_amp", "identified"]])
    pid = "printf('person_%06d', {} + 1)"
    con.execute(
        f"""COPY (
        SELECT 'device_id' AS identifier_type, d.device_id AS identifier,
               {pid.format("t.person")} AS true_person_id
          FROM t_pairs t JOIN a_dev d ON d.device = t.device
        UNION ALL
        SELECT DISTINCT 'device_id', md5(printf('user_%05d', user_num)), {pid.format("person")}
          FROM t_ev WHERE platform = 3
        UNION ALL
        SELECT 'user_id', printf('user_%05d', user_num), {pid.format("person")}
          FROM t_pers WHERE identified
        UNION ALL
        SELECT 'amplitude_id', CAST(user_amp AS VARCHAR), {pid.format("person")}
          FROM t_pers WHERE identified
        UNION ALL
        SELECT 'amplitude_id', CAST(o.device_amp AS VARCHAR), {pid.format("o.owner")}
          FROM t_owner o WHERE o.device_amp IN (SELECT amp FROM t_ev)
        UNION ALL
        SELECT 'dify_end_user_id', uid('eu', eu), {pid.format("person")} FROM t_eu
        ORDER BY 1, 2, 3) TO '{folder / "identity.csv"}' (FORMAT csv, HEADER true)"""
    )
    con.execute(
        f"""COPY (
        SELECT uid('evt', e.key) AS uuid, d.device_id, e.amp AS amplitude_id,
               {pid.format("e.person")} AS true_person_id,
               CASE WHEN p.identified THEN printf('user_%05d', p.user_num) END AS true_user_id
          FROM t_ev e JOIN a_dev d ON d.device = e.device
          JOIN t_pers p ON p.person = e.person
         WHERE e.user_num = 0 AND e.device IN (SELECT device FROM t_owner o
               JOIN (SELECT device FROM t_pairs GROUP BY device HAVING count(*) > 1) USING (device))
         ORDER BY 1) TO '{folder / "shared_device_events.csv"}' (FORMAT csv, HEADER true)"""
    )
    for name in ("t_pairs", "t_ev", "t_eu", "t_owner", "t_pers"):
        con.unregister(name)
    persons_csv(world, beh, folder / "persons.csv")


def persons_csv(world: World, beh: Behaviour, path: Path) -> None:
    p = world.persons
    frame = pd.DataFrame(
        {
            "person_id": [person_id(i) for i in p["person"]],
            "user_id": [f"user_{u:05d}" if u else "" for u in p["user_num"]],
            "first_seen_date": pd.to_datetime(
                world.start_us + p["first_day"].to_numpy() * DAY, unit="us"
            ).strftime("%Y-%m-%d"),
            "primary_platform": np.array(PLATFORMS)[p["platform"].to_numpy()],
            "identified": np.where(p["identified"], "true", "false"),
            "second_device": np.where(p["second_device"] >= 0, "true", "false"),
            **{
                flag: np.array(["", *VARIANTS])[beh.experiments[flag]["variant"] + 1]
                for flag, _, _ in EXPERIMENTS
            },
        }
    )
    frame.to_csv(path, index=False, lineterminator="\n")
