"""Amplitude side of the sample data: events as the S3 / Export API delivers them.

Turns the true client actions and the Dify feedbacks (forwarded server-side as `Answer Rated`)
into event rows with Amplitude's ids and clocks, then plants the delivery quirks: uuid
re-deliveries (`#1` files), client retries (same `$insert_id`, new uuid), missing `$insert_id`,
late uploads and clock-skewed devices. Everything stays numeric here (times in microseconds);
generate_output / generate_amplitude_sql format the lines.

Clock columns: t = true time, cet = client_event_time (device clock), cut =
client_upload_time, srt = server_received_time, sut = server_upload_time, pt = processed_time,
et = event_time, uct = user_creation_time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from llm_product_analytics.generate_behaviour import (
    ANSWER_RATED,
    GROUP_IDENTIFY,
    IDENTIFY,
    PAYLOAD,
    START_SESSION,
    Behaviour,
)
from llm_product_analytics.generate_world import DAY, HOUR, MS, SERVER, US, Plan, World

PROJECT_ID = 434735
INSERT_UUID, INSERT_MISSING, INSERT_DIFY = 0, 1, 2
NON_ACTIVITY_KINDS = (START_SESSION, IDENTIFY, GROUP_IDENTIFY)


@dataclass
class Amplitude:
    events: pd.DataFrame  # one row per true event (the deduplicated truth)
    lines: pd.DataFrame  # one row per delivered line; file_id + line_no give its position
    files: pd.DataFrame  # file_id, date, hour, part, name, n_lines
    merges: pd.DataFrame  # merged-id rows
    t_file: int  # file_id written with the `T` timestamp separator


def build_amplitude(rng: np.random.Generator, plan: Plan, world: World, beh: Behaviour):
    events = pd.concat([_client_events(world, beh), _server_events(world, beh)], ignore_index=True)
    # the uuid key numbers events in time order (rows themselves stay unsorted: cheaper)
    t_rel = (events["t"].to_numpy() - world.start_us) // MS
    order = sort_order(t_rel, events["person"].to_numpy(), events["kind"].to_numpy())
    key = np.empty(len(events), dtype=np.int64)
    key[order] = np.arange(len(events))
    events["key"] = key
    _clocks(rng, plan, world, events)
    _event_ids(rng, events)
    _creation_times(events)
    server = events["platform"].to_numpy() == SERVER
    missing = ~server & (rng.random(len(events)) < plan.missing_insert_id_share)
    events["insert_mode"] = np.where(
        server, INSERT_DIFY, np.where(missing, INSERT_MISSING, INSERT_UUID)
    ).astype(np.int8)
    lines = _deliveries(rng, plan, events)
    lines, files, t_file = _files(lines)
    merges = _merges(rng, world, beh, events)
    return Amplitude(events, lines, files, merges, t_file)


def _client_events(world: World, beh: Behaviour) -> pd.DataFrame:
    c = beh.client
    s = beh.sessions
    sess = c["session"].to_numpy()
    person = s["person"].to_numpy()[sess]
    identified = c["identified"].to_numpy()
    user_amp = world.persons["user_amp"].to_numpy()[person]
    out = c.drop(columns=["session", "identified"])
    out["person"] = person.astype(np.int32)
    out["session"] = sess.astype(np.int32)
    out["device"] = s["device"].to_numpy()[sess].astype(np.int32)
    out["platform"] = s["platform"].to_numpy()[sess].astype(np.int8)
    # the SDK stamps the session with the device clock (skewed devices included)
    skew = world.devices["skew_us"].to_numpy()[out["device"].to_numpy()]
    out["session_id"] = (s["t0"].to_numpy()[sess] + skew) // MS
    out["user_num"] = np.where(identified, world.persons["user_num"].to_numpy()[person], 0).astype(
        np.int32
    )
    out["amp"] = np.where(identified, user_amp, s["anon_amp"].to_numpy()[sess])
    out["t"] = out["t"] // MS * MS  # SDK clocks have millisecond resolution
    out["fb"] = np.int32(-1)
    out["fb_seq"] = np.int8(0)
    out["rating"] = np.int8(-1)
    return out


def _server_events(world: World, beh: Behaviour) -> pd.DataFrame:
    """`Answer Rated` forwarded by the backend for every user feedback (and its flip)."""
    fb = beh.feedbacks
    user = np.flatnonzero(~fb["admin"].to_numpy())
    flipped = user[fb["flipped"].to_numpy()[user]]
    idx = np.concatenate([user, flipped])
    seq = np.concatenate([np.ones(len(user)), np.full(len(flipped), 2)]).astype(np.int64)
    dislike = fb["dislike"].to_numpy()[idx]
    # the first event carries the initial rating, which differs from the final one on a flip
    rating = np.where((seq == 1) & fb["flipped"].to_numpy()[idx], ~dislike, dislike)
    msg = fb["msg"].to_numpy()[idx]
    person = beh.messages["person"].to_numpy()[msg]
    t = np.where(seq == 1, fb["created"].to_numpy()[idx], fb["updated"].to_numpy()[idx])
    n = len(idx)
    frame = {
        "kind": np.full(n, ANSWER_RATED, dtype=np.int8),
        "t": t // MS * MS,
        **{name: np.full(n, -1, dtype=np.int32) for name in PAYLOAD},
        "person": person.astype(np.int32),
        "session": np.full(n, -1, dtype=np.int32),
        "device": np.full(n, -1, dtype=np.int32),
        "platform": np.full(n, SERVER, dtype=np.int8),
        "session_id": np.full(n, -1, dtype=np.int64),
        "user_num": world.persons["user_num"].to_numpy()[person].astype(np.int32),
        "amp": world.persons["user_amp"].to_numpy()[person],
        "fb": idx.astype(np.int32),
        "fb_seq": seq.astype(np.int8),
        "rating": rating.astype(np.int8),
    }
    frame["msg"] = msg.astype(np.int32)
    return pd.DataFrame(frame)


def _clocks(rng, plan: Plan, world: World, ev: pd.DataFrame) -> None:
    """Device clocks, upload and server times; event_time corrected when skew >= 60 s."""
    n = len(ev)
    t = ev["t"].to_numpy()
    device = ev["device"].to_numpy()
    server = device < 0
    skew = np.where(server, 0, world.devices["skew_us"].to_numpy()[np.maximum(device, 0)])
    session = ev["session"].to_numpy()
    n_s = len(world.sessions)
    late_session = rng.random(n_s) < plan.late_session_share
    late_delay = (rng.uniform(1, 3, n_s) * DAY).astype(np.int64) // MS * MS
    delay = np.where(server, _ms(rng, 0.1, 0.5, n), _ms(rng, 0.2, 10, n))
    late = ~server & late_session[np.maximum(session, 0)]
    upload = t + np.where(late, late_delay[np.maximum(session, 0)], delay)
    ev["late"] = late
    ev["cet"] = t + skew
    _server_side_times(rng, ev, upload, upload + skew)


def _server_side_times(rng, ev: pd.DataFrame, upload: np.ndarray, client_upload: np.ndarray):
    """Receive, upload and processing stamps after the (true) upload; event_time as Amplitude
    derives it: client_event_time + (server_received_time - client_upload_time) when that
    skew is at least 60 s, else client_event_time."""
    n = len(ev)
    received = upload + _ms(rng, 0.04, 0.4, n)
    ev["cut"] = client_upload
    ev["srt"] = received
    ev["sut"] = received + _ms(rng, 0.005, 0.05, n)
    ev["pt"] = ev["sut"].to_numpy() + _ms(rng, 0.3, 3, n)
    skew = received - client_upload
    cet = ev["cet"].to_numpy()
    ev["et"] = np.where(np.abs(skew) >= 60 * US, cet + skew, cet)


def _ms(rng, lo_s: float, hi_s: float, n: int) -> np.ndarray:
    return (rng.uniform(lo_s, hi_s, n) * 1000).astype(np.int64) * MS


def sort_order(*keys: np.ndarray) -> np.ndarray:
    """Stable argsort by several non-negative integer keys (most significant first). Packs
    them into one int64 when they fit, which is much faster than np.lexsort on 10M rows."""
    keys = tuple(np.asarray(k, dtype=np.int64) for k in keys)
    bits = [max(1, int(k.max(initial=0)).bit_length()) for k in keys]
    if sum(bits) > 63 or any(k.min(initial=0) < 0 for k in keys):
        return np.lexsort(keys[::-1])
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for k, b in zip(keys, bits, strict=True):
        packed = (packed << b) | k
    return np.argsort(packed, kind="stable")


def _event_ids(rng, ev: pd.DataFrame) -> None:
    """SDK counter per device; server-side events carry large non-sequential ids."""
    device = ev["device"].to_numpy()
    cet_rel = (ev["cet"].to_numpy() - ev["cet"].to_numpy().min()) // MS
    order = sort_order(device + 1, cet_rel)
    d = device[order]
    group_start = np.searchsorted(d, d)
    counter = np.empty(len(ev), dtype=np.int64)
    counter[order] = np.arange(len(ev)) - group_start + 1
    ev["event_id"] = np.where(device < 0, rng.integers(100_000_000, 999_999_999, len(ev)), counter)


def _creation_times(ev: pd.DataFrame) -> None:
    """user_creation_time = event_time of the Amplitude id's first event; flag that event."""
    by_amp = ev.groupby("amp", sort=False)["et"]
    ev["uct"] = by_amp.transform("min").to_numpy()
    first = np.zeros(len(ev), dtype=bool)
    first[by_amp.idxmin().to_numpy()] = True
    ev["first_event"] = first


def _deliveries(rng, plan: Plan, ev: pd.DataFrame) -> pd.DataFrame:
    """Originals, client retries (new uuid, later upload) and uuid re-deliveries (`#1`)."""
    n = len(ev)
    retry_ok = (ev["insert_mode"].to_numpy() == INSERT_UUID) & ~ev["late"].to_numpy()
    retry_idx = np.flatnonzero(retry_ok & (rng.random(n) < plan.retry_share))
    dup_idx = np.flatnonzero(rng.random(n) < plan.uuid_duplicate_share)
    src = np.concatenate([np.arange(n), retry_idx, dup_idx])
    lines = ev.take(src).reset_index(drop=True)
    lines["orig"] = src
    kind_of_line = np.repeat(np.array([0, 1, 2], dtype=np.int8), [n, len(retry_idx), len(dup_idx)])
    lines["kind_of_line"] = kind_of_line
    lines["part"] = (kind_of_line == 2).astype(np.int8)
    retry = slice(n, n + len(retry_idx))
    shift = _ms(rng, 120, 6 * 3600, len(retry_idx))
    for col in ("cut", "srt", "sut", "pt", "key"):
        values = lines[col].to_numpy().copy()
        if col == "key":
            values[retry] = n + np.arange(len(retry_idx))
        else:
            values[retry] += shift
        lines[col] = values
    # event_time is recomputed by Amplitude from the new upload clocks
    et = lines["et"].to_numpy().copy()
    skew = lines["srt"].to_numpy()[retry] - lines["cut"].to_numpy()[retry]
    cet = lines["cet"].to_numpy()[retry]
    et[retry] = np.where(np.abs(skew) >= 60 * US, cet + skew, cet)
    lines["et"] = et
    return lines


def _files(lines: pd.DataFrame):
    """One file per upload hour (`#0`), re-delivered copies in `#1` of the same hour; lines
    in a file are ordered by upload time. Rows stay unsorted: DuckDB sorts while loading."""
    sut = lines["sut"].to_numpy()
    hour_key = sut // HOUR * 2 + lines["part"].to_numpy()
    order = sort_order(hour_key - hour_key.min(), sut % HOUR // MS, lines["key"].to_numpy())
    keys, file_sorted, n_lines = np.unique(hour_key[order], return_inverse=True, return_counts=True)
    file_id = np.empty(len(lines), dtype=np.int64)
    file_id[order] = file_sorted
    line_no = np.empty(len(lines), dtype=np.int64)
    line_no[order] = np.arange(len(lines)) - np.searchsorted(file_sorted, file_sorted) + 1
    lines["file_id"] = file_id
    lines["line_no"] = line_no
    hours = keys // 2
    dates = pd.to_datetime(hours * HOUR, unit="us").strftime("%Y-%m-%d").to_numpy()
    hod = hours % 24
    part = keys % 2
    files = pd.DataFrame(
        {
            "file_id": np.arange(len(keys)),
            "date": dates,
            "hour": hod,
            "part": part,
            "day_key": hours // 24,
            "n_lines": n_lines,
        }
    )
    files["name"] = [
        f"amplitude/{d}/{PROJECT_ID}_{d}_{h}#{p}.json.gz"
        for d, h, p in zip(dates, hod, part, strict=True)
    ]
    t_file = _pick_t_file(files)
    lines["tsep"] = file_id == t_file
    return lines, files, t_file


def _pick_t_file(files: pd.DataFrame) -> int:
    """The busiest `#0` file of the second delivery day is written with the `T` separator."""
    main = files[files["part"] == 0]
    days = np.unique(main["day_key"])
    day = days[min(1, len(days) - 1)]
    on_day = main[main["day_key"] == day]
    return int(on_day["file_id"].to_numpy()[np.argmax(on_day["n_lines"].to_numpy())])


def _merges(rng, world: World, beh: Behaviour, ev: pd.DataFrame) -> pd.DataFrame:
    """A device's anonymous Amplitude id merged into the user's id at its first login."""
    s = world.sessions
    merge_sess = np.flatnonzero(s["merge"].to_numpy())
    ident = ev[(ev["kind"] == IDENTIFY) & ev["session"].isin(merge_sess)]
    ident = ident.sort_values("session", kind="stable")
    sess = ident["session"].to_numpy()
    merges = pd.DataFrame(
        {
            "merge_time": ident["et"].to_numpy() // MS,
            "merge_server_time": (ident["sut"].to_numpy() + _ms(rng, 0.5, 4, len(ident))) // MS,
            "amplitude_id": world.devices["device_amp"].to_numpy()[s["device"].to_numpy()[sess]],
            "merged_amplitude_id": world.persons["user_amp"].to_numpy()[
                s["person"].to_numpy()[sess]
            ],
        }
    )
    merges = merges.sort_values(["merge_server_time", "amplitude_id"], ignore_index=True)
    hour = merges["merge_server_time"].to_numpy() * MS // HOUR
    merges["hour"] = hour
    dates = pd.to_datetime(hour * HOUR, unit="us").strftime("%Y-%m-%d")
    merges["name"] = [
        f"amplitude/merge_ids/{PROJECT_ID}_{d}_{h % 24}.json.gz"
        for d, h in zip(dates, hour, strict=True)
    ]
    return merges
