{#- Post-hook of every model (dbt_project.yml). PostgreSQL plans from table statistics, and
    a table dbt has just built has none until autovacuum analyzes it, a minute or more
    later. Without them the planner guesses (0.5% of rows for each `is null`), so the next
    model's joins over the filtered stg_dify views became nested loops: at 1M events
    int_events__dify_derived ran for over 8 minutes instead of seconds. ANALYZE reads a
    sample (30,000 rows at the default statistics target), a fraction of a second. No-op on
    DuckDB (its statistics are kept as it writes) and for views. -#}
{% macro lpa_analyze_relation() -%}
    {%- if target.type == 'postgres' and config.get('materialized') in ['table', 'incremental'] -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
