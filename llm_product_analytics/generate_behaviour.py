"""What persons do inside their sessions: the planted funnel, chat messages, workflow runs,
feedback, experiment exposures and the smaller client events.

Produces "true" action tables (numpy columns, true times in microseconds); the Amplitude and
Dify modules turn them into deliveries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llm_product_analytics.generate_world import DAY, MS, US, Plan, World

# client event kinds; raw names per platform are in generate_amplitude.EVENT_NAMES
START_SESSION, PAGE_VIEW, BANNER_IMPRESSION, BANNER_CLICK = 0, 1, 2, 3
SIGN_UP, IDENTIFY, GROUP_IDENTIFY, QUERY, EXPORT, REVENUE, EXPOSURE, ANSWER_RATED = range(4, 12)

# run outcomes
SUCCEEDED, FAILED, STOPPED, RUNNING = 0, 1, 2, 3
# message outcomes
NORMAL, ERROR, IN_FLIGHT = 0, 1, 2

EXPERIMENTS = (
    # flag_key, start day offset as a share of the window, relative lift on result_exported
    ("onboarding_copy_v2", 0.0, "lift"),
    ("aa_check", 1 / 3, None),
)
RUNNING_RUNS = 3  # a handful of runs still in flight (finished_at NULL)


@dataclass
class Behaviour:
    sessions: pd.DataFrame
    client: pd.DataFrame  # client events: session, kind, t, identified + payload
    conversations: pd.DataFrame
    messages: pd.DataFrame
    feedbacks: pd.DataFrame
    runs: pd.DataFrame
    experiments: dict


def variant_of(flag_key: str, user_id: str) -> int:
    """Deterministic 50/50 assignment: 1 = treatment, 0 = control."""
    return int(hashlib.md5(f"{flag_key}:{user_id}".encode()).hexdigest()[:8], 16) % 2


def user_ids(user_num: np.ndarray) -> list[str]:
    return [f"user_{u:05d}" for u in user_num]


def simulate_behaviour(rng: np.random.Generator, plan: Plan, world: World) -> Behaviour:
    """Session timeline (all offsets seconds to minutes, a session lasts < 40 min):
    t0 `[Amplitude] Start Session` -> in a login session 1-3 anonymous events, then
    `$identify` (+ `sign_up` at the first login) at t_login -> t_ready -> `$exposure` ->
    funnel page_view -> query_submitted (+ follow-ups; logged-in only) -> workflow run ->
    result_exported; extra page views, banners and purchases spread over the session."""
    s = world.sessions
    n_s = len(s)
    t0 = s["t0"].to_numpy()
    login = s["login_now"].to_numpy()
    ident = s["ident"].to_numpy()

    prefix = _prefix_events(rng, s)
    t_login = t0 + prefix["end_by_session"] + _secs(rng, 5, 40, n_s)
    t_ready = np.where(login, t_login + 1_500 * MS, t0)
    s["t_login"] = np.where(login, t_login, -1)
    s["t_ready"] = t_ready
    s["span"] = _secs(rng, 120, 900, n_s)

    experiments, exposures, treated = _exposures(rng, plan, world, t_ready)
    s["treated"] = treated

    t_pv = t_ready + _secs(rng, 2, 20, n_s)
    query = ident & (rng.random(n_s) < plan.p_query)
    conversations, messages, last_end = _chat(rng, plan, s, query, t_pv)
    runs = _runs(rng, plan, s, query, last_end)
    feedbacks = _feedbacks(rng, plan, conversations, messages)

    blocks = [
        prefix["events"],
        _block(np.arange(n_s), START_SESSION, t0, ~login & ident),
        _login_events(rng, world, t_login),
        exposures,
        _block(np.arange(n_s), PAGE_VIEW, t_pv, ident, page=rng.integers(0, 5, n_s)),
        _block(
            messages["session"].to_numpy(),
            QUERY,
            messages["t"].to_numpy(),
            True,
            msg=messages.index.to_numpy(),
            conv=messages["conv"].to_numpy(),
        ),
        _exports(rng, plan, s, runs),
        *_extras(rng, plan, s),
    ]
    client = pd.concat(blocks, ignore_index=True)
    return Behaviour(s, client, conversations, messages, feedbacks, runs, experiments)


def _secs(rng, lo: float, hi: float, n: int) -> np.ndarray:
    """Uniform durations in whole milliseconds, as microseconds."""
    return (rng.uniform(lo, hi, n) * 1000).astype(np.int64) * MS


def _within(counts: np.ndarray) -> np.ndarray:
    """Position of each repeated row inside its group for np.repeat(x, counts)."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum inside consecutive groups of the given sizes."""
    cs = np.cumsum(values)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    return cs - np.where(start > 0, cs[np.maximum(start - 1, 0)], 0)


def _block(session, kind, t, identified, **payload) -> pd.DataFrame:
    session = np.asarray(session)
    n = len(session)
    cols = {
        "session": session,
        "kind": np.full(n, kind, dtype=np.int8) if np.isscalar(kind) else kind,
        "t": np.asarray(t, dtype=np.int64),
        "identified": np.broadcast_to(np.asarray(identified, dtype=bool), (n,)).copy(),
    }
    for name in PAYLOAD:
        value = payload.get(name, -1)
        cols[name] = np.broadcast_to(np.asarray(value, dtype=np.int32), (n,)).copy()
    return pd.DataFrame(cols)


PAYLOAD = ("msg", "conv", "run", "exp", "variant", "page", "banner", "product")


def _prefix_events(rng, s: pd.DataFrame) -> dict:
    """Anonymous page views / banner impressions before a login inside the session."""
    login = s["login_now"].to_numpy()
    n = np.where(login, rng.integers(1, 4, len(s)), 0)
    sess = np.repeat(np.arange(len(s)), n)
    gaps = _secs(rng, 2, 40, len(sess))
    t = s["t0"].to_numpy()[sess] + _group_cumsum(gaps, n)
    first = _within(n) == 0
    kind = np.where(first | (rng.random(len(sess)) < 0.5), PAGE_VIEW, BANNER_IMPRESSION)
    end = np.zeros(len(s), dtype=np.int64)
    np.maximum.at(end, sess, t - s["t0"].to_numpy()[sess])
    events = _block(
        sess,
        kind.astype(np.int8),
        t,
        False,
        page=rng.integers(0, 5, len(sess)),
        banner=rng.integers(0, 4, len(sess)),
    )
    return {"events": events, "end_by_session": end}


def _login_events(rng, world: World, t_login: np.ndarray) -> pd.DataFrame:
    """$identify at every login; sign_up and $groupidentify at the person's first login."""
    s = world.sessions
    login = np.flatnonzero(s["login_now"].to_numpy())
    first = np.flatnonzero(s["first_login"].to_numpy())
    company = world.persons["company"].to_numpy()[s["person"].to_numpy()[first]] >= 0
    grouped = first[company]
    return pd.concat(
        [
            _block(login, IDENTIFY, t_login[login], True),
            _block(first, SIGN_UP, t_login[first] + _secs(rng, 0.3, 1.5, len(first)), True),
            _block(grouped, GROUP_IDENTIFY, t_login[grouped] + 1_600 * MS, True),
        ],
        ignore_index=True,
    )


def _exposures(rng, plan: Plan, world: World, t_ready: np.ndarray):
    """$exposure at the first logged-in session after each experiment starts (repeats later)."""
    s, persons = world.sessions, world.persons
    person = s["person"].to_numpy()
    t0 = s["t0"].to_numpy()
    ident = s["ident"].to_numpy()
    ids = user_ids(persons["user_num"].to_numpy()[persons["identified"].to_numpy()])
    idx = np.flatnonzero(persons["identified"].to_numpy())
    blocks, info = [], {}
    treated = np.zeros(len(s), dtype=bool)
    for e, (flag, start_share, effect) in enumerate(EXPERIMENTS):
        variant = np.full(len(persons), -1)
        variant[idx] = [variant_of(flag, u) for u in ids]
        start = world.start_us + int(start_share * world.days) * DAY
        cand = np.flatnonzero(ident & (t0 >= start))  # person-chronological order
        _, first_pos = np.unique(person[cand], return_index=True)
        is_first = np.zeros(len(cand), dtype=bool)
        is_first[first_pos] = True
        exposed = cand[is_first | (rng.random(len(cand)) < plan.p_re_exposure)]
        t = t_ready[exposed] + _secs(rng, 0.5, 3, len(exposed))
        blocks.append(_block(exposed, EXPOSURE, t, True, exp=e, variant=variant[person[exposed]]))
        first_t0 = np.full(len(persons), np.iinfo(np.int64).max)
        first_t0[person[cand[first_pos]]] = t0[cand[first_pos]]
        if effect:
            treated |= (variant[person] == 1) & (t0 >= first_t0[person])
        info[flag] = {
            "start_us": start,
            "variant": variant,
            "planted_relative_lift": plan.onboarding_lift if effect else 0.0,
        }
    return info, pd.concat(blocks, ignore_index=True), treated


def _chat(rng, plan: Plan, s: pd.DataFrame, query: np.ndarray, t_pv: np.ndarray):
    """One conversation per querying session, 1-3 messages each; returns the last answer end."""
    conv_sess = np.flatnonzero(query)
    n_msg = 1 + rng.choice(3, len(conv_sess), p=plan.follow_up_messages)
    conversations = pd.DataFrame(
        {
            "session": conv_sess,
            "person": s["person"].to_numpy()[conv_sess],
            "config": rng.integers(0, 2, len(conv_sess)),
            "n_msg": n_msg,
            "deleted": rng.random(len(conv_sess)) < 0.02,
        }
    )
    conv = np.repeat(np.arange(len(conv_sess)), n_msg)
    pos = _within(n_msg)
    m = len(conv)
    # a real duration drives the timeline even when the stored latency stays 0
    duration = np.clip(np.exp(rng.normal(np.log(2.5), 0.5, m)), 0.4, 30.0)
    duration_us = (duration * US).astype(np.int64)
    gap = np.where(pos == 0, 0, _secs(rng, 10, 120, m))
    step = gap + np.where(pos == 0, 0, np.roll(duration_us, 1))
    first_t = t_pv[conv_sess] + _secs(rng, 5, 180, len(conv_sess))
    t = first_t[conv] + _group_cumsum(step, n_msg)
    outcome = np.where(
        rng.random(m) < plan.p_message_error,
        ERROR,
        np.where(rng.random(m) < plan.p_message_in_flight, IN_FLIGHT, NORMAL),
    )
    messages = pd.DataFrame(
        {
            "conv": conv,
            "pos": pos,
            "session": conv_sess[conv],
            "person": conversations["person"].to_numpy()[conv],
            "t": t,
            "end": t + duration_us,
            "latency": np.where(outcome == NORMAL, np.round(duration, 6), 0.0),
            "outcome": outcome,
            "query_text": rng.integers(0, 1 << 20, m),
        }
    )
    last_end = np.zeros(len(s), dtype=np.int64)
    np.maximum.at(last_end, messages["session"].to_numpy(), messages["end"].to_numpy())
    return conversations, messages, last_end


def _runs(rng, plan: Plan, s: pd.DataFrame, query: np.ndarray, last_end: np.ndarray):
    """A report-generator workflow run after each chat; a few are still running."""
    sess = np.flatnonzero(query)
    n = len(sess)
    start = last_end[sess] + _secs(rng, 5, 60, n)
    elapsed = np.clip(np.exp(rng.normal(np.log(8.0), 0.6, n)), 1.0, 120.0)
    elapsed_us = (elapsed * US).astype(np.int64)
    completed = rng.random(n) < plan.p_completed
    status = np.where(completed, SUCCEEDED, np.where(rng.random(n) < 0.85, FAILED, STOPPED))
    # runs that never finished (killed worker): the latest not-completed ones
    not_done = np.flatnonzero(~completed)
    running = not_done[np.argsort(start[not_done], kind="stable")[::-1][:RUNNING_RUNS]]
    status[running] = RUNNING
    return pd.DataFrame(
        {
            "session": sess,
            "person": s["person"].to_numpy()[sess],
            "start": start,
            "finish": np.where(status == RUNNING, -1, start + elapsed_us),
            "status": status,
            "tokens": rng.integers(600, 4000, n),
        }
    )


def _feedbacks(rng, plan: Plan, conversations: pd.DataFrame, messages: pd.DataFrame):
    """User like/dislike (current state, may have flipped) and a few admin ratings."""
    answered = np.flatnonzero(messages["outcome"].to_numpy() == NORMAL)
    end = messages["end"].to_numpy()
    config = conversations["config"].to_numpy()[messages["conv"].to_numpy()]
    dislike_rate = np.where(config == 0, plan.dislike_rate_v1, plan.dislike_rate_v2)

    user = answered[rng.random(len(answered)) < plan.p_rated]
    created = (end[user] + _secs(rng, 3, 90, len(user))) // US * US
    flip = rng.random(len(user)) < plan.p_feedback_flip
    # a flip updates the row in place; updated_at is set in Python, with microseconds
    updated = np.where(
        flip, created + (rng.uniform(20, 300, len(user)) * US).astype(np.int64), created
    )
    user_fb = pd.DataFrame(
        {
            "msg": user,
            "admin": False,
            "dislike": rng.random(len(user)) < dislike_rate[user],
            "flipped": flip,
            "created": created,
            "updated": updated,
            "account": -1,
        }
    )
    admin = answered[rng.random(len(answered)) < plan.p_admin_feedback]
    created = (end[admin] + _secs(rng, 3600, 48 * 3600, len(admin))) // US * US
    admin_fb = pd.DataFrame(
        {
            "msg": admin,
            "admin": True,
            "dislike": rng.random(len(admin)) < 0.5,
            "flipped": False,
            "created": created,
            "updated": created,
            "account": rng.integers(0, 2, len(admin)),
        }
    )
    return pd.concat([user_fb, admin_fb], ignore_index=True)


def _exports(rng, plan: Plan, s: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """result_exported after a completed run; the onboarding treatment lifts the chance."""
    ok = runs["status"].to_numpy() == SUCCEEDED
    sess = runs["session"].to_numpy()
    p = plan.p_export * np.where(s["treated"].to_numpy()[sess], 1 + plan.onboarding_lift, 1.0)
    pick = np.flatnonzero(ok & (rng.random(len(runs)) < p))
    t = runs["finish"].to_numpy()[pick] + _secs(rng, 10, 240, len(pick))
    return _block(sess[pick], EXPORT, t, True, run=pick, product=rng.integers(0, 2, len(pick)))


def _extras(rng, plan: Plan, s: pd.DataFrame) -> list[pd.DataFrame]:
    """Extra page views, banner impressions and clicks, and a few purchases."""
    n_s = len(s)
    ready, span, ident = s["t_ready"].to_numpy(), s["span"].to_numpy(), s["ident"].to_numpy()

    def spread(counts, lo_s):
        sess = np.repeat(np.arange(n_s), counts)
        offset = (rng.random(len(sess)) * (span[sess] - lo_s * US)).astype(np.int64) // MS * MS
        return sess, ready[sess] + lo_s * US + offset

    pv_sess, pv_t = spread(rng.poisson(plan.extra_page_views, n_s), 20)
    imp_sess, imp_t = spread(rng.choice(3, n_s, p=plan.banner_impressions), 10)
    banner = rng.integers(0, 4, len(imp_sess))
    click = rng.random(len(imp_sess)) < 0.12
    rev = np.flatnonzero(ident & (rng.random(n_s) < plan.p_revenue))
    return [
        _block(pv_sess, PAGE_VIEW, pv_t, ident[pv_sess], page=rng.integers(0, 5, len(pv_sess))),
        _block(imp_sess, BANNER_IMPRESSION, imp_t, ident[imp_sess], banner=banner),
        _block(
            imp_sess[click],
            BANNER_CLICK,
            imp_t[click] + _secs(rng, 1, 15, int(click.sum())),
            ident[imp_sess[click]],
            banner=banner[click],
        ),
        _block(
            rev,
            REVENUE,
            ready[rev] + _secs(rng, 30, 600, len(rev)),
            True,
            product=rng.integers(0, 3, len(rev)),
        ),
    ]
