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
