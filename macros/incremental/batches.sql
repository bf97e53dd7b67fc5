{#- Incremental builds (docs block incremental_builds). A build is a batch: the rows staged
    since the last build that finished (lpa_build_log), plus var lookback_days of late data.
    int_events__changed decides which events to rebuild, int_events__changed_keys which
    persons, sessions, messages, identifiers and days they touch; each incremental model
    deletes its rows for those keys (pre-hook) and appends them recomputed. -#}

{#- Is this build a batch on top of existing marts (not a first build, not --full-refresh)? -#}
{% macro lpa_is_batch_build() -%}
    {%- if not execute or flags.FULL_REFRESH -%}{{ return(false) }}{%- endif -%}
    {{ return(lpa_prior_relation('fct_events') is not none) }}
{%- endmacro %}

{#- Is this model being built as part of a batch (its table exists; unit tests, which have
    no `this`, build from their given rows)? -#}
{% macro lpa_is_batch_model() -%}
    {{ return(this is not none and is_incremental() and lpa_is_batch_build()) }}
{%- endmacro %}

{#- A model's relation as it stands before this build (none before the first build): the
    scope models read the previous state of the tables they decide to rebuild. -#}
{% macro lpa_prior_relation(model_name) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.name == model_name -%}
        {{ return(adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.alias)) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- The log of finished builds, next to the intermediate models. -#}
{% macro lpa_build_log_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=generate_schema_name('intermediate', none),
        identifier='lpa_build_log')) }}
{%- endmacro %}

{#- This build's start (UTC) as a SQL timestamp literal: the staged_at of rows staged now. -#}
{% macro lpa_build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- Start of the last build that finished, as a SQL literal; a timestamp before any data
    when there is none (every staged row is then new). -#}
{% macro lpa_last_build_at() -%}
    {%- set log = lpa_build_log_relation() -%}
    {%- set found = execute and adapter.get_relation(
        database=log.database, schema=log.schema, identifier=log.identifier) -%}
    {%- if found -%}
        {%- set last = run_query('select max(built_at) from ' ~ log).columns[0].values()[0] -%}
        {%- if last is not none -%}
            {{ return("cast('" ~ last ~ "' as timestamp)") }}
        {%- endif -%}
    {%- endif -%}
    {{ return("cast('1900-01-01' as timestamp)") }}
{%- endmacro %}

{#- on-run-end: a build that ran every incremental model and its scope models without an
    error is logged finished. A failed or partial build is not, so the next build takes its
    rows again (rebuilding is idempotent). -#}
{% macro lpa_record_build(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set status = {} -%}
    {%- for result in results if result.node.resource_type == 'model' -%}
        {%- do status.update({result.node.name: result.status}) -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
        and node.config.enabled
        and (node.config.materialized == 'incremental' or 'lpa_batch_scope' in node.tags) -%}
        {%- if status.get(node.name) != 'success' -%}{{ return('') }}{%- endif -%}
    {%- endfor -%}
    {%- set log = lpa_build_log_relation() -%}
    create table if not exists {{ log }} (
        built_at timestamp, invocation_id varchar(64), full_refresh boolean
    );
    insert into {{ log }} values (
        {{ lpa_build_started_at() }}, '{{ invocation_id }}',
        {{ 'true' if flags.FULL_REFRESH else 'false' }}
    );
{%- endmacro %}

{#- Config of an incremental model rebuilt by key: before appending, delete the rows whose
    `column` is one of the batch's changed keys (`scope`.`key_column`; default scope
    int_events__changed_keys). -#}
{% macro lpa_incremental_by(column, key_column=none, scope='int_events__changed_keys') -%}
    {{ return(lpa_incremental_config(
        "lpa_in_batch('" ~ column ~ "', '" ~ (key_column or column) ~ "', '" ~ scope ~ "')"
    )) }}
{%- endmacro %}

{#- The config every incremental model shares: append after a pre-hook that deletes, in a
    batch, the rows the filter `batch_filter` (a macro call, rendered at run time) selects. -#}
{% macro lpa_incremental_config(batch_filter) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'append_new_columns',
        'pre_hook': ["{{ lpa_delete_batch_rows(" ~ batch_filter ~ ") }}"]
    }) }}
{%- endmacro %}

{% macro lpa_delete_batch_rows(batch_filter) -%}
    {%- if lpa_is_batch_model() -%}
        delete from {{ this }} where {{ batch_filter }}
    {%- endif -%}
{%- endmacro %}

{#- Filter of an incremental model's input: only the batch's changed keys. -#}
{% macro lpa_in_batch(column, key_column=none, scope='int_events__changed_keys') -%}
    {%- if lpa_is_batch_model() -%}
        {{ column }} in (
            select {{ key_column or column }} from {{ ref(scope) }}
            where {{ key_column or column }} is not null
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Devices whose Amplitude rows a batch staged or re-ranked (int_identity__device_owners):
    base_amplitude__events gives every row it parses or re-ranks this build's start as
    staged_at, so a row entering or leaving stg_amplitude__events or
    stg_amplitude__identifies has one. -#}
{% macro lpa_in_restaged_devices(column) -%}
    {%- if lpa_is_batch_model() -%}
        {{ column }} in ({{ lpa_restaged_values('base_amplitude__events', 'device_id') }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The non-null `column` values of the rows a batch (re)staged in the base model `model`
    (every row a base model writes carries this build's start as staged_at). The caller
    depends_on the model; `last_build_at` saves a second query of the build log when a
    model asks twice. -#}
{% macro lpa_restaged_values(model, column, last_build_at=none) -%}
    select {{ column }} from {{ ref(model) }}
    where staged_at > {{ last_build_at or lpa_last_build_at() }} and {{ column }} is not null
{%- endmacro %}

{#- Amplitude ids a batch recomputes in dim_identity_map: those its changed events carry or
    carried, and every merged id (a merge target's new user moves the ids merged into it).
    One `in` over a union, never an `or` of `in`s: PostgreSQL turns a top-level `in` into a
    hash semi-join, but runs one inside an `or` as a subplan, scanned row by row once it
    outgrows work_mem (the pre-hook below ran for minutes at 1M events). -#}
{% macro lpa_in_changed_amplitude_ids(column) -%}
    {%- if lpa_is_batch_model() -%}
        {%- set merged = ref('stg_amplitude__merged_ids') -%}
        {{ column }} in (
            select amplitude_id from {{ ref('int_events__changed_keys') }}
            where amplitude_id is not null
            union all
            select amplitude_id from {{ merged }}
            union all
            select merged_amplitude_id from {{ merged }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- dim_identity_map's pre-hook: the identifiers a batch recomputes, as `type:identifier`
    (Dify end users always: one row each, recomputed whole). -#}
{% macro lpa_delete_changed_identifiers() -%}
    {%- if lpa_is_batch_model() -%}
        {%- set keys = ref('int_events__changed_keys') -%}
        {%- set merged = ref('stg_amplitude__merged_ids') -%}
        {%- set as_text = dbt.type_string() -%}
        delete from {{ this }}
        where {{ dbt.concat(['identifier_type', "':'", 'identifier']) }} in (
            select {{ dbt.concat(["'user_id:'", 'user_id']) }} from {{ keys }}
            where user_id is not null
            union all
            select {{ dbt.concat(["'device_id:'", 'device_id']) }} from {{ keys }}
            where device_id is not null
            union all
            select {{ dbt.concat(["'amplitude_id:'", 'cast(amplitude_id as ' ~ as_text ~ ')']) }}
            from {{ keys }}
            where amplitude_id is not null
            union all
            select {{ dbt.concat(["'amplitude_id:'", 'cast(amplitude_id as ' ~ as_text ~ ')']) }}
            from {{ merged }}
            union all
            select {{ dbt.concat(["'amplitude_id:'",
                                  'cast(merged_amplitude_id as ' ~ as_text ~ ')']) }}
            from {{ merged }}
            union all
            select {{ dbt.concat(["'dify_end_user_id:'", 'identifier']) }} from {{ this }}
            where identifier_type = 'dify_end_user_id'
        )
    {%- endif -%}
{%- endmacro %}

{#- The raw Amplitude lines (source amplitude.events columns) of files not staged in
    `staged` yet. DuckDB lists the files and reads only the new ones (the source reads every
    file: the same read_csv options as its external_location in _amplitude__sources.yml);
    PostgreSQL lands files whole (lpa load), so new files are those with no staged row. -#}
{% macro lpa_unstaged_amplitude_lines(source_relation, staged) -%}
    {{ return(adapter.dispatch('lpa_unstaged_amplitude_lines')(source_relation, staged)) }}
{%- endmacro %}

{% macro default__lpa_unstaged_amplitude_lines(source_relation, staged) -%}
    select * from {{ source_relation }}
    where _file_name in (
        select _file_name from {{ source_relation }}
        except
        select source_file_name from {{ staged }}
    )
{%- endmacro %}

{% macro duckdb__lpa_unstaged_amplitude_lines(source_relation, staged) -%}
    {%- set raw = var('raw_data_path') -%}
    {%- set new_files = [] -%}
    {%- if execute -%}
        {%- set listed = run_query(
            "select file from glob('" ~ raw ~ "/amplitude/**/*.json.gz') "
            ~ "where file not like '%/merge_ids/%' and replace(file, '" ~ raw ~ "/', '') "
            ~ "not in (select distinct source_file_name from " ~ staged ~ ") order by file") -%}
        {%- for row in listed.rows -%}{%- do new_files.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {%- if new_files -%}
        {%- set file_list -%}
            [{%- for file in new_files -%}'{{ file }}'{{ ", " if not loop.last }}{%- endfor -%}]
        {%- endset -%}
    select
        replace(lines.filename, '{{ raw }}/', '') as _file_name,
        lines._line,
        timezone('UTC', files.last_modified) as _loaded_at
    from read_csv(
        {{ file_list }},
        columns = {'_line': 'VARCHAR'}, header = false, delim = chr(1), quote = '',
        escape = '', auto_detect = false, filename = true, strict_mode = false,
        max_line_size = 8388608
    ) as lines
    left join read_blob({{ file_list }}) as files
        on lines.filename = files.filename
    where lines._line is not null
    {%- else -%}
    select * from {{ source_relation }} where false
    {%- endif -%}
{%- endmacro %}

{#- Config of an incremental report keyed by a date: a batch rewrites every row dated on or
    after its earliest changed event date minus `days_back` (how far back a day's data can
    move a row: look-forward windows such as activation) and, with `with_null`, the rows
    without a date (pooled rows). Each row still reads all the data it needs. -#}
{% macro lpa_incremental_since(date_column, days_back, with_null=false) -%}
    {{ return(lpa_incremental_config(
        "lpa_since_batch('" ~ date_column ~ "', " ~ days_back ~ ", " ~ with_null ~ ")"
    )) }}
{%- endmacro %}

{% macro lpa_batch_start_date(days_back) -%}
    (
        select {{ lpa_add_days('min(event_date)', -days_back) }}
        from {{ ref('int_events__changed_keys') }}
    )
{%- endmacro %}

{% macro lpa_since_batch(date_column, days_back, with_null=false) -%}
    {%- if lpa_is_batch_model() -%}
        ({{ date_column }} >= {{ lpa_batch_start_date(days_back) }}
        {%- if with_null %} or {{ date_column }} is null{% endif %})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- int_events__unioned in a batch: the events on or after the cutoff, and those of the day
    before that belong to a Dify message the window carries, so that an echo and its server
    event are folded together across the cutoff (echoes are seconds from their server event;
    looking further back for one would cost a pass over all history). -#}
{% macro lpa_batch_cutoff() -%}
    {#- A literal once the window is built (it is, before any model that filters on it):
        a constant the engines can compare column values with directly. -#}
    {%- set window = ref('int_events__batch_window') -%}
    {%- set cutoff = none -%}
    {%- if lpa_is_batch_build() and load_relation(window) is not none -%}
        {%- set cutoff = run_query('select max(cutoff_date) from ' ~ window).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if cutoff is not none -%}
        cast('{{ cutoff }}' as date)
    {%- else -%}
        (select cutoff_date from {{ window }})
    {%- endif -%}
{%- endmacro %}

{#- Is the event's reporting date on or after the cutoff minus `days_before`? The first test
    is on event_at itself (a day earlier than any time zone's start of that date) and lets
    the engine skip old rows before converting time zones. -#}
{% macro lpa_on_or_after_cutoff(days_before=0) -%}
    (
        event_at >= cast({{ lpa_add_days(lpa_batch_cutoff(), -(days_before + 1)) }} as {{ dbt.type_timestamp() }})
        and {{ lpa_reporting_date('event_at') }} >= {{ lpa_add_days(lpa_batch_cutoff(), -days_before) }}
    )
{%- endmacro %}

{#- int_events__dify_derived in a batch: only the events int_events__unioned reads (dated on
    or after the cutoff minus a day); its older rows stay as they are. -#}
{% macro lpa_dify_event_in_batch() -%}
    {%- if lpa_is_batch_model() -%}
        {{ lpa_on_or_after_cutoff(1) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- A Dify row that may make such an event: one of its timestamp `columns` is on or after the
    first test of lpa_on_or_after_cutoff(1), or `or_also` holds. -#}
{% macro lpa_dify_row_in_batch(columns, or_also=none) -%}
    {%- if lpa_is_batch_model() -%}
        {%- set since = 'cast(' ~ lpa_add_days(lpa_batch_cutoff(), -2) ~ ' as ' ~ dbt.type_timestamp() ~ ')' -%}
        (
            {%- for column in columns %}
            {{ column }} >= {{ since }}{{ ' or' if not loop.last }}
            {%- endfor %}
            {%- if or_also %}
            or {{ or_also }}
            {%- endif %}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The Dify messages a batch carries (their events in the window, or an echo of them
    there): int_events__unioned's CTE `batch_messages`, which the filters below read. -#}
{% macro lpa_batch_message_ids() -%}
    {%- set match = lpa_json_field_text('event_properties', var('cross_source_match_property')) -%}
    select message_id from {{ ref('int_events__dify_derived') }}
    where message_id is not null
        and {{ lpa_on_or_after_cutoff() }}
    union
    select {{ match }} as message_id from {{ ref('stg_amplitude__events') }}
    where {{ match }} is not null
        and {{ lpa_on_or_after_cutoff() }}
{%- endmacro %}

{% macro lpa_amplitude_in_batch() -%}
    {%- if lpa_is_batch_model() -%}
        {%- set match = lpa_json_field_text('event_properties', var('cross_source_match_property')) -%}
        (
            {{ lpa_on_or_after_cutoff() }}
            or (
                {{ lpa_on_or_after_cutoff(1) }}
                and {{ match }} in (select batch_messages.message_id from batch_messages)
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro lpa_dify_in_batch() -%}
    {%- if lpa_is_batch_model() -%}
        (
            {{ lpa_on_or_after_cutoff() }}
            or (
                {{ lpa_on_or_after_cutoff(1) }}
                and message_id in (select batch_messages.message_id from batch_messages)
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The events of int_events__unioned a batch recomputes (unqualified columns of that table;
    its CTE batch_messages in scope): those on or after the cutoff, and the day before's that
    belong to a Dify message the batch carries (an echo folds into its server event across
    the cutoff). -#}
{% macro lpa_unioned_batch_scope() -%}
    (
        {{ lpa_on_or_after_cutoff() }}
        or (
            {{ lpa_on_or_after_cutoff(1) }}
            and (
                message_id in (select batch_messages.message_id from batch_messages)
                or matched_message_id in (select batch_messages.message_id from batch_messages)
            )
        )
    )
{%- endmacro %}

{#- int_events__unioned's post-hook: a batch marks the events it no longer makes (an event can
    vanish: folded into a late server event, or now a duplicate) with a row whose source is
    null; the insert replaced their key, and this removes them. -#}
{% macro lpa_delete_event_tombstones() -%}
    {%- if lpa_is_batch_model() -%}
        delete from {{ this }} where source is null
    {%- endif -%}
{%- endmacro %}

{#- A fingerprint of `columns` of the row `alias`, to tell a recomputed row from the stored
    one (same engine, same build): 64 bits from each value's own hash function on both
    (PostgreSQL 14+: hash_record_extended, three times faster than an md5 of the row's
    text). -#}
{% macro lpa_columns_hash(alias, columns) -%}
    {{ return(adapter.dispatch('lpa_columns_hash')(alias, columns)) }}
{%- endmacro %}

{% macro default__lpa_columns_hash(alias, columns) -%}
    hash_record_extended(row(
        {%- for column in columns %}{{ alias }}.{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
    ), 0)
{%- endmacro %}

{% macro duckdb__lpa_columns_hash(alias, columns) -%}
    hash(
        {%- for column in columns %}{{ alias }}.{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
    )
{%- endmacro %}

{#- The persons whose funnel rows a batch rewrites: those its changed events touch, and those
    with an attempt whose window may have closed since the last build (is_window_open is
    judged against the end of the data, which moves). -#}
{% macro lpa_funnel_batch_persons() -%}
    select person_id from {{ ref('int_events__changed_keys') }}
    where person_id is not null
    union
    select person_id from {{ ref('int_funnel__attempts') }}
    where window_ends_at >= (
        select cast(lookback_start as timestamp) from {{ ref('int_events__batch_window') }}
    )
{%- endmacro %}

{% macro lpa_funnel_incremental_config() -%}
    {{ return(lpa_incremental_config("lpa_in_funnel_batch('person_id')")) }}
{%- endmacro %}

{% macro lpa_in_funnel_batch(column) -%}
    {%- if lpa_is_batch_model() -%}
        {{ column }} in ({{ lpa_funnel_batch_persons() }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- A fingerprint of a whole fct_events row (`alias` names the table or a `select *` of
    it): a batch rewrites every candidate event, but only those whose fingerprint moved touch
    their persons, sessions and days. Both fingerprints of an event are taken in the same
    build and engine: 64 bits from each value's own hash function (a changed row keeps its
    fingerprint with odds of 2^-64). DuckDB hashes the row as a struct (an md5 of the row's
    text took over 10x longer); PostgreSQL 14+ hashes it as a record (hash_record_extended,
    three times faster than an md5 of its text). -#}
{% macro lpa_event_row_hash(alias) -%}
    {{ return(adapter.dispatch('lpa_event_row_hash')(alias)) }}
{%- endmacro %}

{% macro default__lpa_event_row_hash(alias) -%}
    cast(hash_record_extended({{ alias }}, 0) as text)
{%- endmacro %}

{% macro duckdb__lpa_event_row_hash(alias) -%}
    cast(hash({{ alias }}) as varchar)
{%- endmacro %}
