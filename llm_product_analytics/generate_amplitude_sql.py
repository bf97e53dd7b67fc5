"""DuckDB SQL that renders one Amplitude export line per event.

The line is concatenated from pre-rendered JSON fragments rather than built with
`to_json(struct_pack(...))`: always-null keys collapse into constant text and nested objects
are never re-parsed, which makes this about twice as fast. It is safe because every string
that goes into a line comes from fixed catalogues or ids (no quotes, backslashes or control
characters); the tests parse every line back.
"""

from __future__ import annotations

import json

from llm_product_analytics.generate_amplitude import PROJECT_ID
from llm_product_analytics.generate_behaviour import (
    ANSWER_RATED,
    BANNER_CLICK,
    BANNER_IMPRESSION,
    EXPERIMENTS,
    EXPORT,
    EXPOSURE,
    GROUP_IDENTIFY,
    IDENTIFY,
    PAGE_VIEW,
    QUERY,
    REVENUE,
    SIGN_UP,
)
from llm_product_analytics.generate_world import GEOS, PLATFORMS

# raw event names per platform (Web, iOS, Android, server-side) in kind order; the project's
# alias map unifies them
_PER_PLATFORM = {
    "Web": ("page_view", "adClick", "result_exported"),
    "iOS": ("Page Viewed", "tap_ad", "export_result"),
    "Android": ("page_view", "clickAd", "export_result"),
    "server": ("page_view", "adClick", "result_exported"),
}
EVENT_NAMES = {
    platform: (
        "[Amplitude] Start Session",
        page_view,
        "banner_impression",
        click,
        "sign_up",
        "$identify",
        "$groupidentify",
        "query_submitted",
        export,
        "[Amplitude] Revenue",
        "$exposure",
        "Answer Rated",
    )
    for platform, (page_view, click, export) in _PER_PLATFORM.items()
}
PAGES = ("/home", "/chat", "/reports", "/pricing", "/settings")
BANNERS = ("summer_promo", "pro_upgrade", "webinar_invite", "new_templates")
PRODUCTS = (("starter_monthly", 9.0), ("pro_monthly", 19.0), ("team_monthly", 49.0))
COMPANIES = tuple(f"company-{i:02d}" for i in range(12))
WEB_MODELS = (  # os_name, os_version, device_family, device_type
    ("Chrome", "138", "Mac", "Mac"),
    ("Chrome", "137", "Windows", "Windows"),
    ("Safari", "18.5", "Mac", "Mac"),
    ("Firefox", "140", "Windows", "Windows"),
    ("Edge", "138", "Windows", "Windows"),
    ("Chrome", "138", "Chrome OS", "Chrome OS"),
)
IOS_MODELS = (  # ... plus brand, manufacturer, model
    ("ios", "18.5", "Apple iPhone", "Apple iPhone 15 Pro", "Apple", "Apple", "iPhone16,1"),
    ("ios", "18.4", "Apple iPhone", "Apple iPhone 14", "Apple", "Apple", "iPhone14,7"),
    ("ios", "17.6", "Apple iPhone", "Apple iPhone 13", "Apple", "Apple", "iPhone14,5"),
)
ANDROID_MODELS = (
    ("android", "15", "Samsung Galaxy S24", "Samsung Galaxy S24", "samsung", "samsung", "SM-S921B"),
    ("android", "14", "Google Pixel 8", "Google Pixel 8", "google", "Google", "Pixel 8"),
    ("android", "13", "Redmi Note 12", "Xiaomi Redmi Note 12", "Redmi", "Xiaomi", "23021RAAEG"),
)
CARRIERS = ("Verizon", "T-Mobile", "Vodafone", "Telekom", "Orange")
LIBRARIES = ("amplitude-ts/2.11.1", "amplitude-swift/1.11.2", "amplitude-analytics-android/1.19.3")


def sql_list(values) -> str:
    def lit(v):
        if v is None:
            return "NULL"
        return "'" + str(v).replace("'", "''") + "'"

    return "[" + ", ".join(lit(v) for v in values) + "]"


def pick(values, index_sql: str) -> str:
    """values[index] as SQL (DuckDB lists are 1-based)."""
    return f"{sql_list(values)}[{index_sql} + 1]"


def _compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def device_sql() -> str:
    """Columns of the device dimension, from (device, platform, model)."""

    def by_platform(web, ios, android):
        return f"CASE platform WHEN 0 THEN {web} WHEN 1 THEN {ios} ELSE {android} END"

    def model(catalog, field):
        return pick([m[field] for m in catalog], f"model % {len(catalog)}")

    def each(field):
        return by_platform(*(model(c, field) for c in (WEB_MODELS, IOS_MODELS, ANDROID_MODELS)))

    carrier = pick(CARRIERS, f"(model // 7) % {len(CARRIERS)}")
    fields = {
        "device": "device",
        # web SDK: random uuid; iOS: IDFV (upper case); Android SDK: random uuid + "R"
        "device_id": by_platform(
            "uid('dev', device)", "upper(uid('dev', device))", "uid('dev', device) || 'R'"
        ),
        "os_name": each(0),
        "os_version": each(1),
        "device_family": each(2),
        "device_type": each(3),
        "device_brand": by_platform("NULL", model(IOS_MODELS, 4), model(ANDROID_MODELS, 4)),
        "device_manufacturer": by_platform("NULL", model(IOS_MODELS, 5), model(ANDROID_MODELS, 5)),
        "device_model": by_platform("NULL", model(IOS_MODELS, 6), model(ANDROID_MODELS, 6)),
        "device_carrier": by_platform("NULL", carrier, carrier),
        "ip_address": pick(("192.0.2", "198.51.100", "203.0.113"), "(model // 11) % 3")
        + " || '.' || CAST((model // 37) % 254 + 1 AS VARCHAR)",
        "library": pick(LIBRARIES, "platform"),
        "version_name": by_platform("NULL", "'3.4.1'", "'3.4.1'"),
        "start_version": by_platform("NULL", "'3.2.0'", "'3.1.4'"),
    }
    return ", ".join(f"{expr} AS {name}" for name, expr in fields.items())


def person_sql() -> str:
    """Columns of the person dimension, from (person, user_num, geo, pro, company)."""
    fields = {
        "person": "person",
        "user_id": "CASE WHEN user_num > 0 THEN printf('user_%05d', user_num) END",
        "country": pick([g[0] for g in GEOS], "geo"),
        "region": pick([g[1] for g in GEOS], "geo"),
        "city": pick([g[2] for g in GEOS], "geo"),
        "dma": pick([g[3] for g in GEOS], "geo"),
        "language": pick([g[4] for g in GEOS], "geo"),
        "plan": "CASE WHEN pro THEN 'pro' ELSE 'free' END",
        "company": "company",
    }
    return ", ".join(f"{expr} AS {name}" for name, expr in fields.items())


def _event_properties(app_id: str) -> str:
    pages = [_compact({"page": p}) for p in PAGES]
    banners = [_compact({"banner_id": b, "placement": "home_top"}) for b in BANNERS]
    revenue = [
        _compact({"$price": p, "$quantity": 1, "$revenue": p, "$productId": n}) for n, p in PRODUCTS
    ]
    exposures = [
        _compact({"flag_key": flag, "variant": v})
        for flag, _, _ in EXPERIMENTS
        for v in ("control", "treatment")
    ]
    return f"""CASE l.kind
        WHEN {PAGE_VIEW} THEN {pick(pages, "l.page")}
        WHEN {BANNER_IMPRESSION} THEN {pick(banners, "l.banner")}
        WHEN {BANNER_CLICK} THEN {pick(banners, "l.banner")}
        WHEN {SIGN_UP} THEN CASE WHEN l.person % 3 = 0 THEN '{{"method":"google"}}'
            ELSE '{{"method":"email"}}' END
        WHEN {QUERY} THEN concat('{{"dify_message_id":"', uid('msg', l.msg),
            '","dify_app_id":"{app_id}","dify_conversation_id":"', uid('conv', l.conv), '"}}')
        WHEN {EXPORT} THEN concat('{{"format":"', {pick(("pdf", "csv"), "l.product")},
            '","dify_workflow_run_id":"', uid('run', l.run), '"}}')
        WHEN {REVENUE} THEN {pick(revenue, "l.product")}
        WHEN {EXPOSURE} THEN {pick(exposures, "l.exp * 2 + l.variant")}
        WHEN {ANSWER_RATED} THEN concat('{{"rating":"',
            CASE WHEN l.rating = 1 THEN 'dislike' ELSE 'like' END,
            '","dify_message_id":"', uid('msg', l.msg), '","source":"dify"}}')
        ELSE '{{}}' END"""


def _user_properties() -> str:
    anonymous = _compact({"initial_referrer": "EMPTY", "initial_utm_source": "EMPTY"})
    platform = pick((*PLATFORMS, "server"), "l.platform")
    return f"""CASE
        WHEN l.kind = {IDENTIFY} THEN concat('{{"$set":{{"plan":"', p.plan,
            '","signup_platform":"', {platform}, '"}}}}')
        WHEN l.kind = {GROUP_IDENTIFY} THEN '{{}}'
        WHEN l.platform = 3 THEN concat('{{"plan":"', p.plan, '"}}')
        WHEN l.user_num > 0 THEN concat('{{"plan":"', p.plan,
            '","initial_referrer":"EMPTY","initial_utm_source":"EMPTY"}}')
        ELSE '{anonymous}' END"""


def _data() -> str:
    def render(first: bool, identify: bool) -> str:
        data = {"first_event": True} if first else {}
        data["path"] = "/2/httpapi"
        if identify:
            data["user_properties_updated"] = True
        data.update({"group_first_event": {}, "group_ids": {}})
        return "'" + _compact(data) + "'"

    return f"""CASE
        WHEN l.first_event AND l.kind = {IDENTIFY} THEN {render(True, True)}
        WHEN l.first_event THEN {render(True, False)}
        WHEN l.kind = {IDENTIFY} THEN {render(False, True)}
        ELSE {render(False, False)} END"""


def _json_value(col: str) -> str:
    return f"CASE WHEN {col} IS NULL THEN 'null' ELSE concat('\"', {col}, '\"') END"


def _fragment(cols) -> str:
    """`"a":<a>,"b":<b>` for adjacent keys, rendered once per dimension row."""
    parts = []
    for i, c in enumerate(cols):
        parts.append("'" + ("," if i else "") + json.dumps(c) + ":'")
        parts.append(_json_value(c))
    return f"concat({', '.join(parts)})"


DEVICE_BLOCK = (
    "device_brand", "device_carrier", "device_family", "device_id", "device_manufacturer",
    "device_model", "device_type",
)  # fmt: skip
OS_BLOCK = ("os_name", "os_version")
DEVICE_SINGLES = ("ip_address", "library", "start_version", "version_name")
PERSON_SINGLES = ("user_id", "country", "region", "city", "dma", "language")


def dimension_sql(n_dev: int) -> str:
    """a_dev (client devices + one server-side pseudo device per user, key n_dev + person) and
    a_per (per person a client row, key 2p, and a geo-less server row, key 2p + 1), with the
    values pre-rendered as JSON text."""
    dev_cols = ", ".join(
        [f"{_fragment(DEVICE_BLOCK)} AS j_device_block", f"{_fragment(OS_BLOCK)} AS j_os"]
        + [f"{_json_value(c)} AS j_{c}" for c in DEVICE_SINGLES]
    )
    server_dev = ", ".join(
        f"NULL::VARCHAR AS {c}" if c != "device_id" else c
        for c in ("device_id", *DEVICE_BLOCK[:3], *DEVICE_BLOCK[4:], *OS_BLOCK, "ip_address")
    )
    per_cols = ", ".join(f"{_json_value(c)} AS j_{c}" for c in PERSON_SINGLES)
    geo_null = ", ".join(f"NULL::VARCHAR AS {c}" for c in PERSON_SINGLES[1:])
    return f"""
    CREATE TABLE a_dev AS
    SELECT *, {dev_cols} FROM (
        SELECT {device_sql()} FROM dev_df
        UNION ALL BY NAME
        SELECT {n_dev} + person AS device, NULL::BIGINT AS platform,
               'http/2.0' AS library, NULL::VARCHAR AS version_name,
               NULL::VARCHAR AS start_version,
               {server_dev.replace("device_id", "md5(printf('user_%05d', user_num)) AS device_id")}
        FROM per_df WHERE user_num > 0);
    CREATE TABLE a_per AS
    SELECT *, {per_cols} FROM (
        SELECT 2 * person AS per_key, * FROM (SELECT {person_sql()} FROM per_df)
        UNION ALL BY NAME
        SELECT 2 * person + 1 AS per_key, person, user_id, plan, company, {geo_null}
        FROM (SELECT {person_sql()} FROM per_df));
    """


def _fields(app_id: str) -> list[tuple]:
    """(key, how, SQL) per key in file order. how: null | const (fixed JSON text) |
    text (a string that is never NULL; the quotes live in the constant parts) |
    num (a number that is never NULL) | raw (SQL that yields JSON text) |
    fragment (a tuple of adjacent keys rendered as `"k":v,...` by the dimension table)."""
    names = "[" + ", ".join(sql_list(EVENT_NAMES[p]) for p in (*PLATFORMS, "server")) + "]"
    insert_id = (
        "CASE l.insert_mode WHEN 0 THEN concat('\"', uid('ins', l.orig), '\"') "
        "WHEN 2 THEN concat('\"dify-fb-', uid('fb', l.fb), "
        "CASE WHEN l.fb_seq = 2 THEN '-2' ELSE '' END, '\"') ELSE 'null' END"
    )
    company = pick(COMPANIES, "p.company")
    group_props = (
        f"CASE WHEN l.kind = {GROUP_IDENTIFY} THEN concat("
        '\'{"$set":{"plan":"enterprise","seats":\', 10 + p.company, \'}}\') ELSE \'{}\' END'
    )
    groups = (
        f'CASE WHEN l.kind = {GROUP_IDENTIFY} THEN concat(\'{{"company":"\', {company}, '
        "'\"}') ELSE '{}' END"
    )
    platform = pick(('"Web"', '"iOS"', '"Android"', "null"), "l.platform")
    return [
        ("$insert_id", "raw", insert_id),
        ("$insert_key", "null", None),
        ("$schema", "null", None),
        ("adid", "null", None),
        ("amplitude_attribution_ids", "null", None),
        ("amplitude_event_type", "null", None),
        ("amplitude_id", "num", "l.amp"),
        ("app", "const", str(PROJECT_ID)),
        ("city", "raw", "p.j_city"),
        ("client_event_time", "text", "ats(l.cet, l.tsep)"),
        ("client_upload_time", "text", "ats(l.cut, l.tsep)"),
        ("country", "raw", "p.j_country"),
        ("data", "raw", _data()),
        ("data_type", "const", '"event"'),
        (DEVICE_BLOCK, "fragment", "d.j_device_block"),
        ("dma", "raw", "p.j_dma"),
        ("event_id", "num", "l.event_id"),
        ("event_properties", "raw", _event_properties(app_id)),
        ("event_time", "text", "ats(l.et, l.tsep)"),
        ("event_type", "text", f"{names}[l.platform + 1][l.kind + 1]"),
        ("global_user_properties", "null", None),
        ("group_properties", "raw", group_props),
        ("groups", "raw", groups),
        ("idfa", "null", None),
        ("ip_address", "raw", "d.j_ip_address"),
        ("is_attribution_event", "null", None),
        ("language", "raw", "p.j_language"),
        ("library", "raw", "d.j_library"),
        ("location_lat", "null", None),
        ("location_lng", "null", None),
        (OS_BLOCK, "fragment", "d.j_os"),
        ("partner_id", "null", None),
        ("paying", "null", None),
        ("plan", "const", "{}"),
        ("platform", "raw", platform),
        ("processed_time", "text", "ats(l.pt, l.tsep)"),
        ("region", "raw", "p.j_region"),
        ("sample_rate", "null", None),
        ("server_received_time", "text", "ats(l.srt, l.tsep)"),
        ("server_upload_time", "text", "ats(l.sut, l.tsep)"),
        ("session_id", "num", "l.session_id"),
        ("source_id", "null", None),
        ("start_version", "raw", "d.j_start_version"),
        ("user_creation_time", "text", "ats(l.uct, l.tsep)"),
        ("user_id", "raw", "CASE WHEN l.user_num > 0 THEN p.j_user_id ELSE 'null' END"),
        ("user_properties", "raw", _user_properties()),
        ("uuid", "text", "uid('evt', l.key)"),
        ("version_name", "raw", "d.j_version_name"),
    ]


AMPLITUDE_KEYS = tuple(
    k for key, _, _ in _fields("-") for k in (key if isinstance(key, tuple) else (key,))
)


def line_sql(app_id: str, where: str, line_only: bool = False) -> str:
    """SELECT [file_id,] line for the lines matching `where`, in file order."""
    parts: list[str] = []
    text = "{"
    for i, (key, how, expr) in enumerate(_fields(app_id)):
        text += "," if i else ""
        if how == "fragment":  # several adjacent keys rendered by the dimension
            parts.append("'" + text + "'")
            parts.append(expr)
            text = ""
            continue
        text += json.dumps(key) + ":"
        if how in ("null", "const"):
            text += "null" if how == "null" else expr
            continue
        quote = '"' if how == "text" else ""
        parts.append("'" + (text + quote).replace("'", "''") + "'")
        parts.append(expr)
        text = quote
    parts.append("'" + text + "}'")
    head = "" if line_only else "l.file_id, "
    return f"""SELECT {head}concat({", ".join(parts)}) AS line
        FROM a_lines l
        JOIN a_dev d ON d.device = l.dev_key
        JOIN a_per p ON p.per_key = l.per_key
        WHERE {where}
        ORDER BY l.file_id, l.line_no"""
