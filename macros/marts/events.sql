{#- Calendar date of a naive UTC timestamp in the reporting time zone (var
    reporting_timezone, IANA name). Converting through the zone, not adding a fixed offset,
    keeps days right across daylight-saving changes. -#}
{% macro lpa_reporting_date(timestamp_expr) -%}
    {{ return(adapter.dispatch('lpa_reporting_date')(timestamp_expr)) }}
{%- endmacro %}

{% macro default__lpa_reporting_date(timestamp_expr) -%}
    cast(
        ({{ timestamp_expr }} at time zone 'UTC') at time zone '{{ var("reporting_timezone") }}'
        as date
    )
{%- endmacro %}

{#- `[Amplitude] Start Session` -> `amplitude_start_session`: the name an unmapped raw event
    gets in fct_events. -#}
{% macro lpa_snake_case(text_expr) -%}
    trim(both '_' from regexp_replace(lower({{ text_expr }}), '[^a-z0-9]+', '_', 'g'))
{%- endmacro %}

{#- Deterministic person id: md5 of the kind of evidence and its key, so the same human gets
    the same id on every run and every adapter. -#}
{% macro lpa_person_id(kind, key_expr) -%}
    {{ dbt.hash(dbt.concat(["'" ~ kind ~ ":'", key_expr])) }}
{%- endmacro %}

{#- A top-level value of a JSON column as text. -#}
{% macro lpa_json_field_text(json_expr, key) -%}
    {{ return(adapter.dispatch('lpa_json_field_text')(json_expr, key)) }}
{%- endmacro %}

{% macro default__lpa_json_field_text(json_expr, key) -%}
    json_extract_string({{ json_expr }}, '$."{{ key }}"')
{%- endmacro %}

{% macro postgres__lpa_json_field_text(json_expr, key) -%}
    ({{ json_expr }} ->> '{{ key }}')
{%- endmacro %}

{#- JSON value to its text (for contracted text columns: one type on every adapter). -#}
{% macro lpa_json_to_text(json_expr) -%}
    cast({{ json_expr }} as {{ dbt.type_string() }})
{%- endmacro %}

{#- Canonical names through the alias map (seed event_aliases, CTE `aliases`): an alias for
    the event's platform wins over one for every platform (platform null); unmapped names
    are snake_cased. Each source is joined to the map directly (no union and re-join by
    event_id, which PostgreSQL cannot estimate). -#}
{% macro lpa_alias_joins(events, platform_expr) -%}
    {%- if platform_expr is not none %}
    left join aliases as specific
        on
            {{ events }}.source = specific.source
            and {{ events }}.raw_event_name = specific.raw_event_name
            and {{ platform_expr }} = specific.platform
    {% endif %}
    left join aliases as generic
        on
            {{ events }}.source = generic.source
            and {{ events }}.raw_event_name = generic.raw_event_name
            and generic.platform is null
{%- endmacro %}

{% macro lpa_alias_columns(raw_name_expr, platform_expr) -%}
    {%- set mapped = 'coalesce(specific.event_name, generic.event_name)'
        if platform_expr is not none else 'generic.event_name' -%}
    coalesce({{ mapped }}, {{ lpa_snake_case(raw_name_expr) }}) as event_name,
        {{ mapped }} is not null as is_mapped
{%- endmacro %}
