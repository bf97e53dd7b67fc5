{#- Lays a table's rows out in `column` order on DuckDB, for the event tables a batch
    deletes by time window. DuckDB stores rows in row groups of 122,880 in insertion order and,
    at the checkpoint after a delete, rewrites every row group that lost a large share of its
    rows. Unordered, each row group held every date, so deleting the window rewrote whole
    tables at commit (int_events__unioned, five of 30 days deleted: 6.4 s to checkpoint,
    0.05 s in time order; 10M events, one new day: checkpoints 18 s -> 8 s). The sort costs
    the full build about 20 s at 10M. Nothing on PostgreSQL: a heap has no row groups, and
    VACUUM reclaims deleted rows page by page. -#}
{% macro lpa_storage_order(column) -%}
    {%- if target.type == 'duckdb' -%}
        order by {{ column }}
    {%- endif -%}
{%- endmacro %}
