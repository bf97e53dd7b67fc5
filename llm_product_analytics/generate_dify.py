"""Dify side of the sample data: rows of the nine PostgreSQL tables as numeric frames.

Built from the simulated behaviour, plus console/debugger traffic and the planted bad rows;
generate_dify_sql renders them as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llm_product_analytics.generate_behaviour import NORMAL, RUNNING, Behaviour
from llm_product_analytics.generate_dify_sql import (
    CHAT_APP,
    MESSAGE_ERRORS,
    QUERIES,
    RUN_ERRORS,
    WORKFLOW_APP,
)
from llm_product_analytics.generate_world import DAY, HOUR, US, World

LEGACY_END_USER_TYPE_SHARE = 0.03
LEGACY_ROLE_SHARE = 0.01
N_BAD = 2  # bad rows per class


@dataclass
class Dify:
    """Numeric frames of the six big tables (ids are row keys for the `uid` macro; column
    `bad` > 0 marks a planted bad row), the planted bad-row counts and fixed timestamps."""

    tables: dict[str, pd.DataFrame]
    bad: dict[str, dict[str, int]]
    times: dict[str, int]
    debugger_messages: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def build_dify(rng: np.random.Generator, world: World, beh: Behaviour, bad_rows: bool) -> Dify:
    times = _fixed_times(world)
    persons = world.persons
    end_users, eu_of = _end_users(rng, world, beh)
    conv, msgs = _conversations_and_messages(rng, world, beh, eu_of, times)
    feedbacks = _feedbacks(beh, msgs, eu_of)
    runs = _runs(rng, world, beh, eu_of, times)
    logs = runs[~runs["debugging"]].copy()
    bad: dict[str, dict[str, int]] = {}
    if bad_rows:
        msgs, feedbacks, end_users = _bad_rows(msgs, feedbacks, end_users, bad)
    msgs["pro"] = persons["pro"].to_numpy()[np.maximum(msgs["person"].to_numpy(), 0)]
    conv["pro"] = persons["pro"].to_numpy()[np.maximum(conv["person"].to_numpy(), 0)]
    tables = {
        "end_users": end_users,
        "conversations": conv,
        "messages": msgs,
        "message_feedbacks": feedbacks,
        "workflow_runs": runs,
        "workflow_app_logs": logs,
    }
    debugger = int(msgs["debugger"].sum())
    return Dify(tables, bad, times, debugger_messages=debugger)


def _fixed_times(world: World) -> dict[str, int]:
    """Console objects predate the window; workflow v2 is published in the middle of it."""
    s = world.start_us
    half = world.start_us + (world.days // 2) * DAY
    return {
        "tenant": s - 120 * DAY,
        "accounts": s - 100 * DAY + 9 * HOUR,
        "apps": s - 60 * DAY + 10 * HOUR,
        "config_v1": s - 45 * DAY + 11 * HOUR,
        "config_v2": s - 20 * DAY + 15 * HOUR,
        "workflow_v1": s - 12 * DAY + 10 * HOUR + 2 * 60 * US + 11_418_305,
        "workflow_v2": half + 16 * HOUR + 41 * 60 * US + 7_250_114,
    }


def _end_users(rng, world: World, beh: Behaviour):
    """One end user per (app, user) created at that user's first request to the app."""
    msgs, runs = beh.messages, beh.runs
    first = pd.concat(
        [
            pd.DataFrame({"app": CHAT_APP, "person": msgs["person"], "t": msgs["t"]}),
            pd.DataFrame({"app": WORKFLOW_APP, "person": runs["person"], "t": runs["start"]}),
        ]
    )
    eu = first.groupby(["app", "person"], as_index=False)["t"].min()
    eu = eu.sort_values(["app", "person"], ignore_index=True)
    eu["eu"] = np.arange(len(eu))
    eu["created"] = eu["t"] // US * US
    eu["user_num"] = world.persons["user_num"].to_numpy()[eu["person"].to_numpy()]
    legacy = rng.random(len(eu)) < LEGACY_END_USER_TYPE_SHARE
    eu["type"] = np.where(legacy, 1, 0)
    eu["bad"] = 0
    lookup = {
        app: pd.Series(eu["eu"].to_numpy()[eu["app"] == app], index=eu["person"][eu["app"] == app])
        for app in (CHAT_APP, WORKFLOW_APP)
    }
    return eu.drop(columns=["t"]), lookup


def _conversations_and_messages(rng, world: World, beh: Behaviour, eu_of, times):
    """Service-API chats of the simulated users, then the console's debugger chats."""
    conv = beh.conversations
    msgs = beh.messages
    m = len(msgs)
    first_t = msgs["t"].to_numpy()[msgs["pos"].to_numpy() == 0]
    last_t = np.zeros(len(conv), dtype=np.int64)
    np.maximum.at(last_t, msgs["conv"].to_numpy(), msgs["t"].to_numpy())
    conversations = pd.DataFrame(
        {
            "conv": np.arange(len(conv)),
            "config": conv["config"].to_numpy(),
            "person": conv["person"].to_numpy(),
            "eu": eu_of[CHAT_APP].loc[conv["person"].to_numpy()].to_numpy(),
            "account": -1,
            "created": first_t // US * US,
            "updated": last_t,
            "deleted": conv["deleted"].to_numpy(),
            "query_idx": msgs["query_text"].to_numpy()[msgs["pos"].to_numpy() == 0] % len(QUERIES),
            "debugger": False,
        }
    )
    outcome = msgs["outcome"].to_numpy()
    normal = outcome == NORMAL
    idx = np.arange(m)
    messages = pd.DataFrame(
        {
            "msg": idx,
            "conv": msgs["conv"].to_numpy(),
            "config": conv["config"].to_numpy()[msgs["conv"].to_numpy()],
            "person": msgs["person"].to_numpy(),
            "eu": eu_of[CHAT_APP].loc[msgs["person"].to_numpy()].to_numpy(),
            "account": -1,
            "t": msgs["t"].to_numpy(),
            "end": msgs["end"].to_numpy(),
            "latency": msgs["latency"].to_numpy(),
            "outcome": outcome,
            "parent": np.where(msgs["pos"].to_numpy() > 0, idx - 1, -1),
            "query_idx": msgs["query_text"].to_numpy() % len(QUERIES),
            "answer_idx": msgs["query_text"].to_numpy() % len(QUERIES),
            "error_idx": msgs["query_text"].to_numpy() % len(MESSAGE_ERRORS),
            "msg_tokens": np.where(normal, rng.integers(250, 900, m), 0),
            "ans_tokens": np.where(normal, rng.integers(60, 600, m), 0),
            "ttft": np.round(rng.uniform(0.2, 0.35, m) * msgs["latency"].to_numpy(), 3),
            "debugger": False,
            "bad": 0,
        }
    )
    dbg_conv, dbg_msgs = _debugger_chats(rng, world, len(conversations), m, times)
    return (
        pd.concat([conversations, dbg_conv], ignore_index=True),
        pd.concat([messages, dbg_msgs], ignore_index=True),
    )


def _debugger_chats(rng, world: World, conv0: int, msg0: int, times):
    """Console users testing the chat app in the debugger (from_source console)."""
    n_conv = max(2, round(0.003 * conv0))
    n_msg = rng.integers(1, 4, n_conv)
    day = rng.integers(0, world.days, n_conv)
    start = world.start_us + day * DAY + (rng.uniform(9, 18, n_conv) * HOUR).astype(np.int64)
    account = rng.integers(0, 3, n_conv)
    conv_of = np.repeat(np.arange(n_conv), n_msg)
    pos = np.arange(len(conv_of)) - np.repeat(np.cumsum(n_msg) - n_msg, n_msg)
    m = len(conv_of)
    t = start[conv_of] + pos * 90 * US + rng.integers(0, 60 * US, m)
    latency = np.round(rng.uniform(0.8, 6.0, m), 6)
    conversations = pd.DataFrame(
        {
            "conv": conv0 + np.arange(n_conv),
            "config": 1,
            "person": -1,
            "eu": -1,
            "account": account,
            "created": t[pos == 0] // US * US,
            "updated": t[np.cumsum(n_msg) - 1],
            "deleted": False,
            "query_idx": rng.integers(0, len(QUERIES), n_conv),
            "debugger": True,
        }
    )
    messages = pd.DataFrame(
        {
            "msg": msg0 + np.arange(m),
            "conv": conv0 + conv_of,
            "config": 1,
            "person": -1,
            "eu": -1,
            "account": account[conv_of],
            "t": t,
            "end": t + (latency * US).astype(np.int64),
            "latency": latency,
            "outcome": NORMAL,
            "parent": np.where(pos > 0, msg0 + np.arange(m) - 1, -1),
            "query_idx": (query := rng.integers(0, len(QUERIES), m)),
            "answer_idx": query,
            "error_idx": 0,
            "msg_tokens": rng.integers(250, 900, m),
            "ans_tokens": rng.integers(60, 600, m),
            "ttft": np.round(rng.uniform(0.2, 0.35, m) * latency, 3),
            "debugger": True,
            "bad": 0,
        }
    )
    return conversations, messages


def _feedbacks(beh: Behaviour, msgs: pd.DataFrame, eu_of) -> pd.DataFrame:
    """Current feedback state; a third of the dislikes and a seventh of the likes carry a
    comment (FEEDBACK_CONTENT: three complaints, then one praise)."""
    fb = beh.feedbacks
    msg = fb["msg"].to_numpy()
    admin = fb["admin"].to_numpy()
    person = msgs["person"].to_numpy()[msg]
    i = np.arange(len(fb))
    dislike = fb["dislike"].to_numpy()
    content = np.where(dislike & (i % 3 == 0), i // 3 % 3, np.where(~dislike & (i % 7 == 0), 3, -1))
    return pd.DataFrame(
        {
            "fb": np.arange(len(fb)),
            "msg": msg,
            "conv": msgs["conv"].to_numpy()[msg],
            "eu": np.where(admin, -1, eu_of[CHAT_APP].loc[person].to_numpy()),
            "account": fb["account"].to_numpy(),
            "admin": admin,
            "dislike": fb["dislike"].to_numpy(),
            "created": fb["created"].to_numpy(),
            "updated": fb["updated"].to_numpy(),
            "content": content,
            "bad": 0,
        }
    )


def _runs(rng, world: World, beh: Behaviour, eu_of, times) -> pd.DataFrame:
    """report-generator runs of the users (app-run), then a few debugging runs."""
    runs = beh.runs
    n = len(runs)
    start = runs["start"].to_numpy()
    status = runs["status"].to_numpy()
    app_runs = pd.DataFrame(
        {
            "run": np.arange(n),
            "person": runs["person"].to_numpy(),
            "user_num": world.persons["user_num"].to_numpy()[runs["person"].to_numpy()],
            "eu": eu_of[WORKFLOW_APP].loc[runs["person"].to_numpy()].to_numpy(),
            "account": -1,
            "start": start,
            "finish": runs["finish"].to_numpy(),
            "status": status,
            "tokens": np.where(status == RUNNING, 0, runs["tokens"].to_numpy()),
            "steps": np.select([status == 0, status == RUNNING], [3, 1], 2),
            "version": np.where(start >= times["workflow_v2"], 2, 1),
            "debugging": False,
            "legacy_role": rng.random(n) < LEGACY_ROLE_SHARE,
            "error_idx": np.arange(n) % len(RUN_ERRORS),
        }
    )
    k = max(2, round(0.003 * n))
    day = rng.integers(0, world.days, k)
    dstart = world.start_us + day * DAY + (rng.uniform(9, 18, k) * HOUR).astype(np.int64)
    ok = rng.random(k) < 0.7
    debug_runs = pd.DataFrame(
        {
            "run": n + np.arange(k),
            "person": -1,
            "user_num": 0,
            "eu": -1,
            "account": rng.integers(0, 3, k),
            "start": dstart,
            "finish": dstart + (rng.uniform(1, 20, k) * US).astype(np.int64),
            "status": np.where(ok, 0, 1),
            "tokens": rng.integers(600, 4000, k),
            "steps": np.where(ok, 3, 2),
            "version": 0,
            "debugging": True,
            "legacy_role": False,
            "error_idx": np.arange(k) % len(RUN_ERRORS),
        }
    )
    return pd.concat([app_runs, debug_runs], ignore_index=True)


def _bad_rows(msgs, feedbacks, end_users, bad):
    """Extra rows a robust pipeline must quarantine; they never touch the truth."""
    real = msgs[~msgs["debugger"]]
    n_msg = len(msgs)
    # 1) unknown status, 2) conversation that does not exist
    picks = real.iloc[np.linspace(0, len(real) - 1, 2 * N_BAD).astype(int)].copy()
    picks["msg"] = n_msg + np.arange(len(picks))
    picks["bad"] = np.repeat([1, 2], N_BAD)
    picks["parent"] = -1
    picks["t"] = picks["t"].to_numpy() + 7 * US
    picks["end"] = picks["end"].to_numpy() + 7 * US
    bad["messages"] = {"unknown_enum": N_BAD, "broken_reference": N_BAD}
    # feedback on a message that does not exist
    fb = feedbacks.iloc[np.linspace(0, len(feedbacks) - 1, N_BAD).astype(int)].copy()
    fb["fb"] = len(feedbacks) + np.arange(len(fb))
    fb["bad"] = 1
    fb["admin"] = False
    bad["message_feedbacks"] = {"broken_reference": N_BAD}
    # end user with an unknown type
    eu = end_users.iloc[:N_BAD].copy()
    eu["eu"] = len(end_users) + np.arange(N_BAD)
    eu["type"] = 2
    eu["bad"] = 1
    eu["person"] = -1
    bad["end_users"] = {"unknown_enum": N_BAD}
    return (
        pd.concat([msgs, picks], ignore_index=True),
        pd.concat([feedbacks, fb], ignore_index=True),
        pd.concat([end_users, eu], ignore_index=True),
    )
