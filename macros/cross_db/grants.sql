{#- Read access for BI tools (PostgreSQL; DuckDB files have no roles, so every macro here is a
    no-op there). The policy, applied by dbt on every run:

    - the role in var bi_reader_role (default `bi_reader`, a NOLOGIN group role: make your
      BI users members of it) may read the marts schema only;
    - table level: dbt's own `grants` config on the marts folder (dbt_project.yml) grants
      SELECT on each marts table each time dbt (re)creates it, in the same transaction as the
      swap, so readers never see a table without its grant;
    - schema level (this file, on-run-end): USAGE on the schemas of the models that carry a
      grants config; on every other schema the project builds or reads (staging,
      intermediate, the source schemas raw_amplitude / raw_dify and the loader's raw_meta)
      all privileges of that role and of PUBLIC are revoked, on the schema and its tables.
    Set var bi_reader_role to null to manage access yourself: no grant is made or revoked. -#}

{#- The configured BI role, or none when access is managed elsewhere. -#}
{% macro lpa_bi_reader_role() -%}
    {#- Default repeated in dbt_project.yml (+grants); settable with --vars only. -#}
    {%- set role = var('bi_reader_role', 'bi_reader') -%}
    {%- if not role -%}{{ return(none) }}{%- endif -%}
    {%- if not modules.re.fullmatch('[a-z_][a-z0-9_]{0,62}', role | string) -%}
        {{ exceptions.raise_compiler_error(
            "var bi_reader_role must be a lower-case PostgreSQL role name ([a-z_][a-z0-9_]*)"
            ~ " or null; got " ~ role | string) }}
    {%- endif -%}
    {{ return(role) }}
{%- endmacro %}

{#- on-run-start: create the BI role when it is missing (NOLOGIN: a group role, nobody logs
    in as it). Roles are cluster-wide, so two runs (or two databases' builds) may race: the
    loser's duplicate error is swallowed. Without the CREATEROLE privilege the build stops
    with a message telling the DBA what to run. -#}
{% macro lpa_create_bi_reader_role() -%}
    {{ return(adapter.dispatch('lpa_create_bi_reader_role')()) }}
{%- endmacro %}

{% macro default__lpa_create_bi_reader_role() -%}
    select 1
{%- endmacro %}

{% macro postgres__lpa_create_bi_reader_role() -%}
    {%- set role = lpa_bi_reader_role() -%}
    {%- if execute -%}
        {#- The +grants config is rendered from --vars only; a bi_reader_role set in the vars
            block of dbt_project.yml would reach these hooks but not the grants. -#}
        {%- set granted = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
            {%- set grantees = (node.config.grants or {}).get('select', []) -%}
            {%- for grantee in ([grantees] if grantees is string else grantees) -%}
                {%- do granted.append(grantee) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set granted = granted | unique | list -%}
        {%- if granted and granted != [role] -%}
            {{ exceptions.raise_compiler_error(
                "var bi_reader_role is " ~ role ~ " but the marts grant SELECT to "
                ~ granted | join(', ') ~ ": set bi_reader_role with --vars, not in the vars"
                ~ " block of dbt_project.yml (dbt renders +grants before that block).") }}
        {%- endif -%}
    {%- endif -%}
    {%- if role is none -%}
        select 1
    {%- else -%}
    do $lpa$
    begin
        if not exists (select 1 from pg_catalog.pg_roles where rolname = '{{ role }}') then
            begin
                create role {{ adapter.quote(role) }} nologin;
            exception
                when duplicate_object or unique_violation then
                    null;  -- created meanwhile by a concurrent run
                when insufficient_privilege then
                    raise exception
                        'role "{{ role }}" (var bi_reader_role) does not exist and % may not create it',
                        current_user
                        using hint = 'Ask a DBA to run: create role "{{ role }}" nologin; '
                            || 'or set var bi_reader_role to null to skip grants.';
            end;
        end if;
    end
    $lpa$
    {%- endif -%}
{%- endmacro %}

{#- on-run-end: schema USAGE for the BI role on the schemas of granted models; nothing on the
    other schemas of the project. Schemas that do not exist (yet) are skipped. -#}
{% macro lpa_grant_schema_usage() -%}
    {{ return(adapter.dispatch('lpa_grant_schema_usage')()) }}
{%- endmacro %}

{% macro default__lpa_grant_schema_usage() -%}
    select 1
{%- endmacro %}

{% macro postgres__lpa_grant_schema_usage() -%}
    {%- set role = lpa_bi_reader_role() -%}
    {%- if role is none or not execute -%}
        select 1
    {%- else -%}
        {%- set open_schemas = [] -%}
        {%- set closed_schemas = ['raw_meta'] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type in ['model', 'seed', 'snapshot'] and node.config.enabled -%}
            {%- set grantees = (node.config.grants or {}).get('select', []) -%}
            {%- if grantees is string -%}{%- set grantees = [grantees] -%}{%- endif -%}
            {%- if role in grantees -%}
                {%- do open_schemas.append(node.schema) -%}
            {%- else -%}
                {%- do closed_schemas.append(node.schema) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for source in graph.sources.values() -%}
            {%- do closed_schemas.append(source.schema) -%}
        {%- endfor -%}
        {%- set open_schemas = open_schemas | unique | list -%}
        {%- set closed_schemas = closed_schemas | reject('in', open_schemas) | unique | list -%}
    do $lpa$
    declare
        schema_name text;
    begin
        for schema_name in
            select nspname from pg_catalog.pg_namespace
            where nspname in ('{{ closed_schemas | join("', '") }}')
        loop
            execute format(
                'revoke all on all tables in schema %I from public, {{ adapter.quote(role) }}',
                schema_name
            );
            execute format(
                'revoke all on schema %I from public, {{ adapter.quote(role) }}', schema_name
            );
        end loop;
        {%- if open_schemas %}
        for schema_name in
            select nspname from pg_catalog.pg_namespace
            where nspname in ('{{ open_schemas | join("', '") }}')
        loop
            execute format(
                'grant usage on schema %I to {{ adapter.quote(role) }}', schema_name
            );
        end loop;
        {%- endif %}
    end
    $lpa$
    {%- endif -%}
{%- endmacro %}
