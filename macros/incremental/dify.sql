{#- Incremental Dify base models. A Dify CSV is a whole-table snapshot, re-exported on every
    delivery, so a batch cannot take "new files" as it does for Amplitude: it takes, from the
    snapshot, every copy of each id that
    - changed: no staged copy of the id has the row's cursor (lpa_dify_snapshot_keys:
      updated_at where the table has one, which Dify moves on every update),
    - or is not staged yet (a late row, whatever its timestamps),
    - or was quarantined for a broken reference (its parent may have arrived since);
    rows without an id are always taken (they are rare and rejected anyway). Typing, hashing
    and validation then run on those rows only; the staged copies of the same ids (or the
    same row key) are replaced. An unchanged row is never restaged (restaging every row
    updated within lookback_days rewrote about four times as many rows as were new). A row
    updated upstream without moving its cursor, or deleted from the snapshot, needs
    --full-refresh (the reference warns that old runs vanish by retention: they are kept). -#}
{#- Per incremental table: its id column (as staged) and cursor columns (raw = staged names). -#}
{% macro lpa_dify_snapshot_keys(table) -%}
    {{ return({
        'end_users': ['end_user_id', ['updated_at', 'created_at']],
        'conversations': ['conversation_id', ['updated_at', 'created_at']],
        'messages': ['message_id', ['updated_at', 'created_at']],
        'message_feedbacks': ['message_feedback_id', ['updated_at', 'created_at']],
        'workflow_runs': ['workflow_run_id', ['finished_at', 'created_at']],
        'workflow_app_logs': ['workflow_app_log_id', ['created_at']]
    }[table]) }}
{%- endmacro %}

{% macro lpa_dify_incremental_config(table) -%}
    {%- set id_column = lpa_dify_snapshot_keys(table)[0] -%}
    {#- The key is an expression (a row without an id is replaced by its row key); both
        adapters' delete+insert splice it into `where (<key>) in (select <key> ...)`. -#}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'coalesce(' ~ id_column ~ ', source_row_key)',
        'on_schema_change': 'append_new_columns'
    }) }}
{%- endmacro %}

{#- Filter of a Dify base model's `source` CTE (raw rows aliased `source`): true in a full
    build, the batch's rows in an incremental one. -#}
{% macro lpa_dify_snapshot_in_batch(table) -%}
    {%- if is_incremental() -%}
        {%- set id_column, cursor_columns = lpa_dify_snapshot_keys(table) -%}
        (
            source.id is null
            or lower(source.id) in (
                -- One pass over the snapshot: rows no staged copy of their id matches.
                select lower(changed.id) from {{ source('dify', table) }} as changed
                left join {{ this }} as staged
                    on
                        lower(changed.id) = staged.{{ id_column }}
                        {%- for column in cursor_columns %}
                        and staged.{{ column }} is not distinct from
                        {{ lpa_to_timestamp('changed.' ~ column) }}
                        {%- endfor %}
                where staged.{{ id_column }} is null
                union
                select {{ id_column }} from {{ this }}
                where rejection_reason = 'broken_reference'
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
