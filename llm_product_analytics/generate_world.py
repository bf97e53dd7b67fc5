"""The simulated world behind the sample data: persons, devices, sessions, who is logged in.

Everything is vectorised with numpy; times are integer microseconds since the epoch (UTC).
The planted parameters live in `Plan` and are repeated in ground_truth.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

US = 1_000_000
MS = 1_000
HOUR = 3600 * US
DAY = 24 * HOUR

WEB, IOS, ANDROID, SERVER = 0, 1, 2, 3
PLATFORMS = ("Web", "iOS", "Android")


@dataclass(frozen=True)
class Plan:
    """Planted parameters of the simulation (rates are per person, session or message)."""

    platform_shares: tuple[float, float, float] = (0.5, 0.25, 0.25)
    identified_share: float = 0.8
    login_in_first_session: float = 0.8
    second_device_share: float = 0.15
    second_device_session_share: float = 0.5
    shared_device_share: float = 0.03
    sessions_per_day: tuple[float, float, float] = (0.91, 0.07, 0.02)
    # r(d) = floor + amplitude * exp(-decay * (d - 1)): D1 0.40, D7 0.25, D30 0.144
    retention_floor: float = 0.14
    retention_amplitude: float = 0.26
    retention_decay: float = 0.1434
    p_query: float = 0.6
    p_completed: float = 0.75
    p_export: float = 0.35
    onboarding_lift: float = 0.20
    p_re_exposure: float = 0.05
    dislike_rate_v1: float = 0.10
    dislike_rate_v2: float = 0.30
    p_rated: float = 0.30
    p_feedback_flip: float = 0.05
    p_admin_feedback: float = 0.01
    p_message_error: float = 0.03
    p_message_in_flight: float = 0.003
    p_revenue: float = 0.015
    extra_page_views: float = 0.3  # Poisson mean per session
    banner_impressions: tuple[float, float, float] = (0.75, 0.2, 0.05)
    follow_up_messages: tuple[float, float, float] = (0.7, 0.25, 0.05)
    company_share: float = 0.2
    pro_share: float = 0.2
    # delivery quirks (shares of Amplitude events or devices)
    uuid_duplicate_share: float = 0.01
    retry_share: float = 0.005
    missing_insert_id_share: float = 0.02
    late_session_share: float = 0.02
    skewed_device_share: float = 0.005

    def return_probability(self, d: np.ndarray) -> np.ndarray:
        """Probability that a person is active d >= 1 days after first seen."""
        d = np.asarray(d, dtype=float)
        return self.retention_floor + self.retention_amplitude * np.exp(
            -self.retention_decay * (d - 1)
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class World:
    """Persons, devices and sessions; events are added by generate_events."""

    users: int
    days: int
    start_us: int
    persons: pd.DataFrame
    devices: pd.DataFrame
    sessions: pd.DataFrame


def simulate_world(rng: np.random.Generator, plan: Plan, users: int, days: int, start_us: int):
    persons = _persons(rng, plan, users, days)
    sessions = _sessions(rng, plan, persons, days, start_us)
    persons["n_sessions"] = np.bincount(sessions["person"], minlength=users)
    persons["login_seq"] = _login_session(rng, plan, persons)
    devices, sessions = _devices(rng, plan, persons, sessions)
    sessions = _login_state(persons, devices, sessions)
    _amplitude_ids(rng, persons, devices)
    sessions["anon_amp"] = np.where(
        sessions["prev_state"] >= 0,
        persons["user_amp"].to_numpy()[np.maximum(sessions["prev_state"].to_numpy(), 0)],
        devices["device_amp"].to_numpy()[sessions["device"].to_numpy()],
    )
    return World(users, days, start_us, persons, devices, sessions)


def _persons(rng: np.random.Generator, plan: Plan, n: int, days: int) -> pd.DataFrame:
    # more persons are first seen early in the window
    weights = np.exp(-1.2 * np.arange(days) / days)
    first_day = rng.choice(days, n, p=weights / weights.sum())
    identified = rng.random(n) < plan.identified_share
    company = np.where(
        identified & (rng.random(n) < plan.company_share), rng.integers(0, 12, n), -1
    )
    return pd.DataFrame(
        {
            "person": np.arange(n),
            "first_day": first_day,
            "platform": rng.choice(3, n, p=plan.platform_shares),
            "identified": identified,
            "user_num": np.where(identified, np.cumsum(identified), 0),
            "geo": rng.choice(len(GEO_WEIGHTS), n, p=GEO_WEIGHTS),
            "pro": rng.random(n) < plan.pro_share,
            "company": company,
        }
    )


def _sessions(rng, plan: Plan, persons: pd.DataFrame, days: int, start_us: int) -> pd.DataFrame:
    """Active days from the planted return curve, then 1-3 sessions per active day."""
    n = len(persons)
    first = persons["first_day"].to_numpy()
    rel = np.arange(days)[None, :] - first[:, None]
    prob = np.where(rel == 0, 1.0, np.where(rel > 0, plan.return_probability(rel), 0.0))
    person, day = np.nonzero(rng.random((n, days)) < prob)
    k = rng.choice(3, len(person), p=plan.sessions_per_day) + 1
    s_person, s_day, s_k = np.repeat(person, k), np.repeat(day, k), np.repeat(k, k)
    j = np.arange(len(s_person)) - np.repeat(np.cumsum(k) - k, k)
    # one slot per session inside 01:00-22:30 so that sessions never cross midnight
    # (a session lasts < 40 min) and never overlap for one person
    slot = 21.5 * 3600 / s_k
    start_s = 3600 + j * slot + rng.random(len(s_person)) * (slot - 5400)
    t0 = start_us + s_day.astype(np.int64) * DAY + (start_s * 1000).astype(np.int64) * MS
    first_idx = np.searchsorted(s_person, s_person)
    return pd.DataFrame(
        {
            "person": s_person,
            "day": s_day,
            "t0": t0,
            "seq": np.arange(len(s_person)) - first_idx,
        }
    )


def _login_session(rng, plan: Plan, persons: pd.DataFrame) -> np.ndarray:
    """Index of the session in which an identified person logs in for the first time."""
    n_sess = persons["n_sessions"].to_numpy()
    later = rng.integers(0, np.maximum(n_sess, 1))
    first = rng.random(len(persons)) < plan.login_in_first_session
    return np.where(persons["identified"], np.where(first, 0, later), -1)


def _devices(rng, plan: Plan, persons: pd.DataFrame, sessions: pd.DataFrame):
    """Primary device per person, a second device for some, some devices shared by two users."""
    n = len(persons)
    n_sess = persons["n_sessions"].to_numpy()
    login = persons["login_seq"].to_numpy()
    identified = persons["identified"].to_numpy()
    eligible = identified & (n_sess - 1 - login >= 1)
    share = min(1.0, plan.second_device_share * identified.sum() / max(eligible.sum(), 1))
    has2 = eligible & (rng.random(n) < share)
    # the second device starts in a session after the login session
    start2 = np.where(has2, login + 1 + rng.integers(0, np.maximum(n_sess - 1 - login, 1)), -1)

    first_idx = np.searchsorted(sessions["person"].to_numpy(), np.arange(n))
    t0 = sessions["t0"].to_numpy()
    login_t0 = np.where(
        identified, t0[np.minimum(first_idx + np.maximum(login, 0), len(t0) - 1)], 0
    )
    start2_t0 = np.where(has2, t0[np.minimum(first_idx + np.maximum(start2, 0), len(t0) - 1)], 0)

    n_second = int(has2.sum())
    target_shared = int(round(plan.shared_device_share * (n + n_second)))
    b_users, a_users = _shared_pairs(rng, has2, identified, login_t0, start2_t0, target_shared)

    second_device = np.full(n, -1)
    fresh = has2.copy()
    fresh[b_users] = False
    second_device[fresh] = n + np.arange(fresh.sum())
    second_device[b_users] = a_users  # B's second device is A's primary device

    n_dev = n + int(fresh.sum())
    platform = np.empty(n_dev, dtype=np.int64)
    platform[:n] = persons["platform"].to_numpy()
    platform[n:] = rng.choice(3, n_dev - n, p=plan.platform_shares)
    owner = np.concatenate([np.arange(n), np.flatnonzero(fresh)])

    s_person = sessions["person"].to_numpy()
    seq = sessions["seq"].to_numpy()
    on2 = has2[s_person] & (seq >= start2[s_person])
    on2 &= (seq == start2[s_person]) | (rng.random(len(seq)) < plan.second_device_session_share)
    device = np.where(on2, second_device[s_person], s_person)
    device = _resolve_overlaps(device, s_person, t0)
    sessions["device"] = device

    # what actually happened (a guest whose sessions all clashed never used A's device)
    pairs = pd.DataFrame({"d": device, "p": s_person}).drop_duplicates()
    users_per_device = pairs.groupby("d")["p"].size()
    shared = np.zeros(n_dev, dtype=bool)
    shared[users_per_device.index[users_per_device.to_numpy() > 1].to_numpy()] = True
    other = pairs[pairs["d"] != pairs["p"]]
    second_device = np.full(n, -1)
    second_device[other["p"].to_numpy()] = other["d"].to_numpy()
    skewed = rng.random(n_dev) < plan.skewed_device_share
    devices = pd.DataFrame(
        {
            "device": np.arange(n_dev),
            "owner": owner,
            "platform": platform,
            "model": rng.integers(0, 1 << 30, n_dev),
            "shared": shared,
            # clock-skewed devices run 1-6 hours ahead
            "skew_us": np.where(skewed, rng.integers(1 * HOUR, 6 * HOUR, n_dev) // MS * MS, 0),
        }
    )
    persons["second_device"] = second_device
    return devices, sessions


def _shared_pairs(rng, has2, identified, login_t0, start2_t0, target: int):
    """Pair users B (second-device users) with owners A whose device B will use after A's login."""
    b_cand = rng.permutation(np.flatnonzero(has2))
    a_pool = np.flatnonzero(identified & ~has2)
    if target == 0 or len(b_cand) == 0 or len(a_pool) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    a_pick = a_pool[rng.integers(0, len(a_pool), len(b_cand))]
    ok = start2_t0[b_cand] > login_t0[a_pick] + 2 * HOUR
    b_cand, a_pick = b_cand[ok], a_pick[ok]
    _, first = np.unique(a_pick, return_index=True)
    keep = np.sort(first)[:target]
    return b_cand[keep], a_pick[keep]


def _resolve_overlaps(device: np.ndarray, person: np.ndarray, t0: np.ndarray) -> np.ndarray:
    """Two persons cannot use one device at once: move a guest session back to its own device."""
    device = device.copy()
    while True:
        order = np.lexsort((t0, device))
        d, p, t = device[order], person[order], t0[order]
        clash = np.zeros(len(d), dtype=bool)
        clash[1:] = (d[1:] == d[:-1]) & (p[1:] != p[:-1]) & (t[1:] - t[:-1] < 2 * HOUR)
        if not clash.any():
            return device
        # a session on a device that is not the person's own (device index != person) is a
        # guest; only shared primary devices have guests, and a guest goes back to their own
        guest = d != p
        move = clash & guest
        move[:-1] |= clash[1:] & ~guest[1:] & guest[:-1]
        moved = order[move]
        device[moved] = person[moved]


def _login_state(persons: pd.DataFrame, devices: pd.DataFrame, sessions: pd.DataFrame):
    """Who is logged in on each device at each session start (last identified user, if any)."""
    person = sessions["person"].to_numpy()
    device = sessions["device"].to_numpy()
    seq = sessions["seq"].to_numpy()
    t0 = sessions["t0"].to_numpy()
    identified = persons["identified"].to_numpy()[person]
    login_seq = persons["login_seq"].to_numpy()[person]
    own = device == person
    # identified from the login session on (own device) or from the first session (second device)
    ident = identified & ((own & (seq >= login_seq)) | ~own)

    order = np.lexsort((t0, device))
    d, p, idt = device[order], person[order], ident[order]
    idx = np.arange(len(d))
    group_start = np.searchsorted(d, d)
    last = np.maximum.accumulate(np.where(idt, idx, -1))
    before = np.full(len(d), -1)
    before[1:] = last[:-1]
    before = np.where(before >= group_start, before, -1)
    prev_sorted = np.where(before >= 0, p[np.maximum(before, 0)], -1)
    prev_state = np.empty_like(prev_sorted)
    prev_state[order] = prev_sorted

    login_now = ident & (prev_state != person)
    # sign-up = the person's first login anywhere (sessions are chronological per person)
    first_login = np.zeros(len(person), dtype=bool)
    cand = np.flatnonzero(login_now)
    cand = cand[np.lexsort((t0[cand], person[cand]))]
    _, first = np.unique(person[cand], return_index=True)
    first_login[cand[first]] = True
    sessions["ident"] = ident
    sessions["login_now"] = login_now
    sessions["first_login"] = first_login
    sessions["prev_state"] = prev_state
    sessions["merge"] = login_now & (prev_state < 0)
    sessions["platform"] = devices["platform"].to_numpy()[device]
    return sessions


def _amplitude_ids(rng, persons: pd.DataFrame, devices: pd.DataFrame) -> None:
    """12-digit Amplitude ids: one per device (first sight) and one per user_id."""
    n_p, n_d = len(persons), len(devices)
    ids = 700_000_000_000 + np.cumsum(rng.integers(1, 4000, n_p + n_d))
    ids = rng.permutation(ids)
    persons["user_amp"] = np.where(persons["identified"], ids[:n_p], 0)
    devices["device_amp"] = ids[n_p:]


# (country, region, city, dma, language); the weights are the person shares
GEOS = (
    (
        "United States",
        "California",
        "San Francisco",
        "San Francisco-Oakland-San Jose, CA",
        "English",
    ),
    ("United States", "New York", "New York", "New York, NY", "English"),
    ("Germany", "Berlin", "Berlin", None, "German"),
    ("United Kingdom", "England", "London", None, "English"),
    ("France", "Ile-de-France", "Paris", None, "French"),
    ("Japan", "Tokyo", "Tokyo", None, "Japanese"),
    ("Brazil", "Sao Paulo", "Sao Paulo", None, "Portuguese"),
    ("India", "Karnataka", "Bengaluru", None, "English"),
)
GEO_WEIGHTS = np.array([0.22, 0.16, 0.16, 0.12, 0.1, 0.08, 0.08, 0.08])
