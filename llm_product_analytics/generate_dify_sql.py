"""Formatting of the Dify tables as PostgreSQL `COPY ... (FORMAT csv, HEADER)` writes them.

DuckDB SQL per big table (Postgres text output rules: `t`/`f` booleans, trailing fraction
zeros trimmed, numeric scales, JSON text with Python's `json.dumps` spacing) and Python rows
for the three small tables. Ids come from the `uid` macro / its Python twin.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from llm_product_analytics.contract import DIFY_COLUMNS
from llm_product_analytics.generate_amplitude_sql import sql_list as _sql_list
from llm_product_analytics.generate_behaviour import ERROR, NORMAL, RUNNING
from llm_product_analytics.generate_output import copy_csv, uid
from llm_product_analytics.generate_output import pg_timestamp as ts
from llm_product_analytics.generate_world import DAY, HOUR, US, World

CHAT_APP, WORKFLOW_APP = 0, 1
PROMPT_VERSIONS = ("v1", "v2")
PRE_PROMPTS = (
    "You are Acme's support assistant. Answer briefly and cite the docs.",
    "You are Acme's support assistant (prompt v2). Be concise; never ask follow-up questions.",
)
OPENING = "Hi! I am the Acme support assistant. How can I help?"
QUERIES = (
    ("How do I rotate my API key?", "Rotate API key"),
    ("Why is my monthly report empty?", "Empty monthly report"),
    ("Can I export the results as CSV?", "Export as CSV"),
    ("How do I invite a teammate to my workspace?", "Invite a teammate"),
    ("What does the pro plan include?", "Pro plan features"),
    ("My dashboard shows no data for yesterday", "Dashboard missing data"),
    ("How do I connect my Postgres database?", "Connect Postgres"),
    ("Summarise my last invoice", "Last invoice summary"),
    ("Which regions do you host data in?", "Data hosting regions"),
    ("How can I delete my account?", "Delete account"),
    ("Compare the free and pro plans for me", "Free vs pro"),
    ("Why did my workflow fail last night?", "Failed workflow"),
)
ANSWERS = (  # one per entry of QUERIES
    "Go to Settings, API Keys and click Rotate. The old key stays valid for 24 hours.",
    "Reports need at least one completed run in the period. Check the date filter first.",
    "Yes. Open the result, choose Export and pick CSV or PDF.",
    "Open Workspace, Members and send an invite by email.",
    "Pro adds unlimited reports, scheduled exports and priority support.",
    "Data for a day is complete about two hours after midnight UTC.",
    "Add a Postgres source under Connections and paste a read-only connection string.",
    "Your last invoice covers 3 seats on the pro plan, billed monthly.",
    "We host data in the EU (Frankfurt) and the US (Virginia); pick one per workspace.",
    "Settings, Account, Delete account. Workspace owners must transfer ownership first.",
    "Free has 5 reports per month; pro is unlimited and adds scheduled exports.",
    "The run stopped at the LLM step after a rate limit. Retrying usually works.",
)
MESSAGE_ERRORS = (
    "[openai] Rate Limit Error, Error code: 429",
    "[openai] Connection Error, Request timed out.",
    "[openai] Error code: 500 - The server had an error while processing your request.",
)
RUN_ERRORS = (
    "Node LLM run failed: [openai] Rate Limit Error, Error code: 429",
    "Node Code run failed: division by zero",
    "Node HTTP Request run failed: Request timed out",
)
FEEDBACK_CONTENT = ("Too vague", "Wrong answer", "Did not answer my question", "Great, thanks")
GRAPH = json.dumps(
    {
        "nodes": [
            {"id": "start", "data": {"type": "start", "title": "Start"}},
            {"id": "llm", "data": {"type": "llm", "title": "Draft report"}},
            {"id": "end", "data": {"type": "end", "title": "End"}},
        ],
        "edges": [{"source": "start", "target": "llm"}, {"source": "llm", "target": "end"}],
    }
)
STATUS_NAMES = ("succeeded", "failed", "stopped", "running")


def small_tables(world: World, ids, times: dict[str, int]) -> dict[str, list[dict]]:
    """apps, app_model_configs and accounts: a handful of rows, built as Python dicts."""
    tenant = ids("tenant", 0)
    acc = [ids("account", i) for i in range(3)]
    accounts = [
        {
            "id": acc[i],
            "name": name,
            "email": email,
            "password": None,
            "password_salt": None,
            "avatar": None,
            "interface_language": "en-US",
            "interface_theme": "light",
            "timezone": tz,
            "last_login_at": ts(world.start_us + (world.days - 1) * DAY + (9 + i) * HOUR),
            "last_login_ip": f"198.51.100.{10 + i}",
            "last_active_at": ts(world.start_us + (world.days - 1) * DAY + (10 + i) * HOUR),
            "status": "active",
            "initialized_at": ts(times["accounts"] + i * DAY + 60 * US),
            "created_at": ts(times["accounts"] + i * DAY),
            "updated_at": ts(times["accounts"] + i * DAY),
        }
        for i, (name, email, tz) in enumerate(
            (
                ("Ada Admin", "ada@acme.example", "Europe/Berlin"),
                ("Ben Builder", "ben@acme.example", "America/New_York"),
                ("Quinn Tester", "quinn@acme.example", "UTC"),
            )
        )
    ]
    app_common = {
        "tenant_id": tenant,
        "icon_type": "emoji",
        "status": "normal",
        "enable_site": "t",
        "enable_api": "t",
        "api_rpm": "0",
        "api_rph": "0",
        "is_demo": "f",
        "is_public": "f",
        "is_universal": "f",
        "tracing": None,
        "max_active_requests": None,
        "created_by": acc[0],
        "created_at": ts(times["apps"]),
        "updated_by": acc[1],
        "use_icon_as_answer_icon": "f",
    }
    apps = [
        {
            **app_common,
            "id": ids("app", CHAT_APP),
            "name": "support-assistant",
            "description": "Answers product questions from the docs",
            "mode": "chat",
            "icon": "\U0001f916",
            "icon_background": "#FFEAD5",
            "app_model_config_id": ids("cfg", 1),
            "workflow_id": None,
            "updated_at": ts(times["config_v2"]),
        },
        {
            **app_common,
            "id": ids("app", WORKFLOW_APP),
            "name": "report-generator",
            "description": "Builds a report from the chat result",
            "mode": "workflow",
            "icon": "\U0001f4c4",
            "icon_background": "#E0F2FE",
            "app_model_config_id": None,
            "workflow_id": ids("wf", 2),
            "updated_at": ts(times["workflow_v2"]),
        },
    ]
    configs = [_config_row(ids, acc, times, v) for v in (0, 1)]
    return {"accounts": accounts, "apps": apps, "app_model_configs": configs}


def _config_row(ids, acc, times, version: int) -> dict:
    created = times["config_v1" if version == 0 else "config_v2"]
    model = {
        "provider": "langgenius/openai/openai",
        "name": "gpt-4o-mini",
        "mode": "chat",
        "completion_params": {"temperature": 0.2 if version == 0 else 0.7, "max_tokens": 800},
    }
    return {
        "id": ids("cfg", version),
        "app_id": ids("app", CHAT_APP),
        "provider": "langgenius/openai/openai",
        "model_id": "gpt-4o-mini",
        "configs": None,
        "opening_statement": OPENING,
        "suggested_questions": "[]",
        "suggested_questions_after_answer": json.dumps({"enabled": False}),
        "speech_to_text": json.dumps({"enabled": False}),
        "more_like_this": json.dumps({"enabled": False}),
        "model": json.dumps(model),
        "user_input_form": "[]",
        "pre_prompt": PRE_PROMPTS[version],
        "agent_mode": json.dumps({"enabled": False, "strategy": None, "tools": []}),
        "retriever_resource": json.dumps({"enabled": True}),
        "prompt_type": "simple",
        "chat_prompt_config": "{}",
        "completion_prompt_config": "{}",
        "dataset_configs": json.dumps({"retrieval_model": "multiple"}),
        "external_data_tools": "[]",
        "file_upload": json.dumps({"image": {"enabled": False}}),
        "text_to_speech": json.dumps({"enabled": False}),
        "sensitive_word_avoidance": json.dumps({"enabled": False}),
        "dataset_query_variable": "",
        "created_by": acc[1],
        "created_at": ts(created),
        "updated_by": acc[1],
        "updated_at": ts(created),
    }


def bank_frames() -> dict[str, pd.DataFrame]:
    """Text banks as small frames for SQL joins (JSON fragments pre-rendered by json.dumps)."""
    prompts = {
        f"prompt_v{v + 1}": [
            json.dumps(
                [
                    {"role": "system", "text": PRE_PROMPTS[v], "files": []},
                    {"role": "user", "text": q, "files": []},
                ]
            )
            for q, _ in QUERIES
        ]
        for v in (0, 1)
    }
    return {
        "bank_query": pd.DataFrame(
            {
                "i": np.arange(len(QUERIES)),
                "query": [q for q, _ in QUERIES],
                "name": [n for _, n in QUERIES],
                **prompts,
            },
            dtype=object,
        ).astype({"i": np.int64}),
        "bank_answer": pd.DataFrame(
            {"i": np.arange(len(ANSWERS)), "answer": list(ANSWERS)}, dtype=object
        ).astype({"i": np.int64}),
    }


def table_sql(table: str, t: dict[str, int]) -> tuple[dict[str, str], str, str]:
    """(column -> SQL expression, FROM clause, ORDER BY) for one big Dify table."""
    sql = _TABLE_SQL[table](t)
    cols, src, order = sql
    assert list(cols) == list(DIFY_COLUMNS[table]), table
    return cols, src, order


def _sql_end_users(t):
    cols = {
        "id": "uid('eu', eu)",
        "tenant_id": "uid('tenant', 0)",
        "app_id": "uid('app', app)",
        "type": "['service-api', 'service_api', 'kiosk'][type + 1]",
        "external_user_id": "CASE WHEN bad = 0 THEN printf('user_%05d', user_num) END",
        "name": "NULL",
        "is_anonymous": "pgbool(bad > 0)",
        "session_id": "CASE WHEN bad = 0 THEN printf('user_%05d', user_num) "
        "ELSE 'kiosk-' || uid('kiosk', eu) END",
        "created_at": "pgts(created)",
        "updated_at": "pgts(created)",
    }
    return cols, "dify_end_users", "created, eu"


def _sql_conversations(t):
    cols = {
        "id": "uid('conv', conv)",
        "app_id": f"uid('app', {CHAT_APP})",
        "app_model_config_id": "uid('cfg', config)",
        "model_provider": "'langgenius/openai/openai'",
        "model_id": "'gpt-4o-mini'",
        "override_model_configs": "NULL",
        "mode": "'chat'",
        "name": "q.name",
        "summary": "NULL",
        "inputs": "CASE WHEN debugger THEN '{}' WHEN pro THEN '{\"plan\": \"pro\"}' "
        'ELSE \'{"plan": "free"}\' END',
        "introduction": f"'{OPENING}'",
        "system_instruction": "NULL",
        "system_instruction_tokens": "0",
        "status": "'normal'",
        "invoke_from": "CASE WHEN debugger THEN 'debugger' ELSE 'service-api' END",
        "from_source": "CASE WHEN debugger THEN 'console' ELSE 'api' END",
        "from_end_user_id": "CASE WHEN NOT debugger THEN uid('eu', eu) END",
        "from_account_id": "CASE WHEN debugger THEN uid('account', account) END",
        "read_at": "NULL",
        "read_account_id": "NULL",
        "dialogue_count": "0",
        "created_at": "pgts(created)",
        "updated_at": "pgts(updated)",
        "is_deleted": "pgbool(deleted)",
    }
    return cols, "dify_conversations c JOIN bank_query q ON q.i = c.query_idx", "created, conv"


_METADATA = (
    '{"annotation_reply": null, "retriever_resources": [], "usage": {"prompt_tokens": %d, '
    '"prompt_unit_price": "0.15", "prompt_price_unit": "0.000001", "prompt_price": "%s", '
    '"completion_tokens": %d, "completion_unit_price": "0.6", "completion_price_unit": '
    '"0.000001", "completion_price": "%s", "total_tokens": %d, "total_price": "%s", '
    '"currency": "USD", "latency": %s, "time_to_first_token": %s, "time_to_generate": %s}, '
    '"reasoning": {}}'
)


def _sql_messages(t):
    ok = f"outcome = {NORMAL}"
    # prices in units of 1e-7 USD, rounded half up like Dify's Decimal.quantize
    pp = "((msg_tokens * 15 + 5) // 10)"
    cp = "((ans_tokens * 60 + 5) // 10)"
    cols = {
        "id": "uid('msg', msg)",
        "app_id": f"uid('app', {CHAT_APP})",
        "model_provider": "'langgenius/openai/openai'",
        "model_id": "'gpt-4o-mini'",
        "override_model_configs": "NULL",
        "conversation_id": "CASE WHEN bad = 2 THEN uid('conv-missing', msg) "
        "ELSE uid('conv', conv) END",
        "inputs": "CASE WHEN debugger THEN '{}' WHEN pro THEN '{\"plan\": \"pro\"}' "
        'ELSE \'{"plan": "free"}\' END',
        "query": "q.query",
        "message": f"CASE WHEN NOT ({ok}) THEN '\"\"' WHEN config = 0 THEN q.prompt_v1 "
        "ELSE q.prompt_v2 END",
        "message_tokens": "msg_tokens",
        "message_unit_price": f"CASE WHEN {ok} THEN '0.1500' ELSE '0.0000' END",
        "message_price_unit": f"CASE WHEN {ok} THEN '0.0000010' ELSE '0.0000000' END",
        "answer": f"CASE WHEN {ok} THEN a.answer ELSE '' END",
        "answer_tokens": "ans_tokens",
        "answer_unit_price": f"CASE WHEN {ok} THEN '0.6000' ELSE '0.0000' END",
        "answer_price_unit": f"CASE WHEN {ok} THEN '0.0000010' ELSE '0.0000000' END",
        "parent_message_id": "CASE WHEN parent >= 0 THEN uid('msg', parent) END",
        "provider_response_latency": "pgfloat(latency)",
        "total_price": f"price7({pp} + {cp})",
        "currency": "'USD'",
        "status": f"CASE WHEN bad = 1 THEN 'archived' WHEN outcome = {ERROR} THEN 'error' "
        "ELSE 'normal' END",
        "error": f"CASE WHEN outcome = {ERROR} THEN {_sql_list(MESSAGE_ERRORS)}[error_idx + 1] END",
        "message_metadata": f"CASE WHEN {ok} THEN printf('{_METADATA}', msg_tokens, "
        f"price7({pp}), ans_tokens, price7({cp}), msg_tokens + ans_tokens, "
        f"price7({pp} + {cp}), pgfloat(latency), pgfloat(ttft), "
        "pgfloat(round(latency - ttft, 6))) END",
        "invoke_from": "CASE WHEN debugger THEN 'debugger' ELSE 'service-api' END",
        "from_source": "CASE WHEN debugger THEN 'console' ELSE 'api' END",
        "from_end_user_id": "CASE WHEN NOT debugger THEN uid('eu', eu) END",
        "from_account_id": "CASE WHEN debugger THEN uid('account', account) END",
        "created_at": f"pgts(t // {US} * {US})",
        "updated_at": f'CASE WHEN {ok} THEN pgts("end") ELSE pgts(t // {US} * {US}) END',
        "agent_based": "'f'",
        "workflow_run_id": "NULL",
        "app_mode": "'chat'",
    }
    src = (
        "dify_messages m JOIN bank_query q ON q.i = m.query_idx "
        "JOIN bank_answer a ON a.i = m.answer_idx"
    )
    return cols, src, f"t // {US}, msg"


def _sql_feedbacks(t):
    cols = {
        "id": "uid('fb', fb)",
        "app_id": f"uid('app', {CHAT_APP})",
        "conversation_id": "uid('conv', conv)",
        "message_id": "CASE WHEN bad = 1 THEN uid('msg-missing', fb) ELSE uid('msg', msg) END",
        "rating": "CASE WHEN dislike THEN 'dislike' ELSE 'like' END",
        "content": f"CASE WHEN content >= 0 THEN {_sql_list(FEEDBACK_CONTENT)}[content + 1] END",
        "from_source": "CASE WHEN admin THEN 'admin' ELSE 'user' END",
        "from_end_user_id": "CASE WHEN NOT admin THEN uid('eu', eu) END",
        "from_account_id": "CASE WHEN admin THEN uid('account', account) END",
        "created_at": "pgts(created)",
        "updated_at": "pgts(updated)",
    }
    return cols, "dify_message_feedbacks", "created, fb"


def _run_role():
    return "CASE WHEN debugging THEN 'account' WHEN legacy_role THEN 'end-user' ELSE 'end_user' END"


def _run_creator():
    return "CASE WHEN debugging THEN uid('account', account) ELSE uid('eu', eu) END"


def _sql_runs(t):
    versions = _sql_list(("draft", _ts_str(t["workflow_v1"]), _ts_str(t["workflow_v2"])))
    inputs = (
        'printf(\'{"report_type": "weekly_summary", "sys.files": [], "sys.user_id": '
        '"%s", "sys.app_id": "%s", "sys.workflow_id": "%s", '
        '"sys.workflow_run_id": "%s"}\', '
        "CASE WHEN debugging THEN uid('account', account) ELSE printf('user_%05d', user_num) END, "
        f"uid('app', {WORKFLOW_APP}), uid('wf', version), uid('run', run))"
    )
    cols = {
        "id": "uid('run', run)",
        "tenant_id": "uid('tenant', 0)",
        "app_id": f"uid('app', {WORKFLOW_APP})",
        "workflow_id": "uid('wf', version)",
        "type": "'workflow'",
        "triggered_from": "CASE WHEN debugging THEN 'debugging' ELSE 'app-run' END",
        "version": f"{versions}[version + 1]",
        "graph": "'" + GRAPH + "'",
        "inputs": inputs,
        "status": f"{_sql_list(STATUS_NAMES)}[status + 1]",
        "outputs": 'CASE WHEN status = 0 THEN printf(\'{"report": "Report ready: %d sections"}\', '
        "steps + run % 4) ELSE '{}' END",
        "error": f"CASE WHEN status = 1 THEN {_sql_list(RUN_ERRORS)}[error_idx + 1] END",
        "elapsed_time": f"CASE WHEN status = {RUNNING} THEN '0' "
        f"ELSE pgfloat((finish - start) / {US}) END",
        "total_tokens": "tokens",
        "total_steps": "steps",
        "created_by_role": _run_role(),
        "created_by": _run_creator(),
        "created_at": "pgts(start)",
        "finished_at": f"CASE WHEN status <> {RUNNING} THEN pgts(finish) END",
        "exceptions_count": "0",
    }
    return cols, "dify_workflow_runs", "start, run"


def _sql_logs(t):
    cols = {
        "id": "uid('log', run)",
        "tenant_id": "uid('tenant', 0)",
        "app_id": f"uid('app', {WORKFLOW_APP})",
        "workflow_id": "uid('wf', version)",
        "workflow_run_id": "uid('run', run)",
        "created_from": "'service-api'",
        "created_by_role": _run_role(),
        "created_by": _run_creator(),
        "created_at": f"pgts(start // {US} * {US})",
    }
    return cols, "dify_workflow_app_logs", "start, run"


_TABLE_SQL = {
    "end_users": _sql_end_users,
    "conversations": _sql_conversations,
    "messages": _sql_messages,
    "message_feedbacks": _sql_feedbacks,
    "workflow_runs": _sql_runs,
    "workflow_app_logs": _sql_logs,
}


def _ts_str(us: int) -> str:
    """Dify's workflow version string: str(datetime) with microseconds."""
    return pd.Timestamp(us, unit="us").strftime("%Y-%m-%d %H:%M:%S.%f")


# ---------------------------------------------------------------- writing


def write_small_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """A handful of rows given as Python dicts (None = NULL), quoted as PostgreSQL does."""

    def field(value) -> str:
        if value is None:
            return ""
        text = str(value)
        if text == "" or any(ch in text for ch in ',"\n\r'):
            return '"' + text.replace('"', '""') + '"'
        return text

    ordered = sorted(rows, key=lambda r: r["id"])
    lines = [",".join(columns)] + [",".join(field(r[c]) for c in columns) for r in ordered]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_dify(con, out_dir: Path, dify, world: World, seed: int) -> dict[str, int]:
    """All nine tables; returns the number of data rows per table. One COPY at a time:
    DuckDB's ordered CSV writer spends much more CPU when COPYs run concurrently."""
    for name, frame in bank_frames().items():
        con.register(name, frame)
    rows = {}
    for table, frame in dify.tables.items():
        con.register(f"dify_{table}", frame)
        cols, src, order = table_sql(table, dify.times)
        copy_csv(con, out_dir / "dify" / f"{table}.csv", cols, src, order)
        con.unregister(f"dify_{table}")
        rows[table] = len(frame)
    small = small_tables(world, lambda kind, i: uid(seed, kind, i), dify.times)
    for table, table_rows in small.items():
        write_small_csv(out_dir / "dify" / f"{table}.csv", list(DIFY_COLUMNS[table]), table_rows)
        rows[table] = len(table_rows)
    return {t: rows[t] for t in DIFY_COLUMNS}
