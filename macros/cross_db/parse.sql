{#- Guarded casts from text: a value that does not have the expected shape becomes null
    instead of failing the build. The same regular expressions run on both adapters, so
    DuckDB and PostgreSQL accept exactly the same strings. -#}

{% macro lpa_matches(text_expr, pattern) -%}
    {{ return(adapter.dispatch('lpa_matches')(text_expr, pattern)) }}
{%- endmacro %}

{% macro default__lpa_matches(text_expr, pattern) -%}
    regexp_matches({{ text_expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__lpa_matches(text_expr, pattern) -%}
    ({{ text_expr }} ~ '{{ pattern }}')
{%- endmacro %}

{#- `YYYY-MM-DD HH:MM:SS[.ffffff]`, space or `T` separator, no zone (naive UTC). -#}
{% macro lpa_timestamp_pattern() -%}
    ^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$
{%- endmacro %}

{% macro lpa_to_timestamp(text_expr) -%}
    case
        when {{ lpa_matches(text_expr, lpa_timestamp_pattern()) }}
            then cast(replace({{ text_expr }}, 'T', ' ') as timestamp)
    end
{%- endmacro %}

{% macro lpa_to_bigint(text_expr) -%}
    case
        when {{ lpa_matches(text_expr, '^-?[0-9]{1,18}$') }}
            then cast({{ text_expr }} as bigint)
    end
{%- endmacro %}

{% macro lpa_to_double(text_expr) -%}
    case
        when {{ lpa_matches(text_expr, '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$') }}
            then cast({{ text_expr }} as double precision)
    end
{%- endmacro %}

{% macro lpa_to_boolean(text_expr) -%}
    case
        when lower({{ text_expr }}) in ('t', 'true', '1') then true
        when lower({{ text_expr }}) in ('f', 'false', '0') then false
    end
{%- endmacro %}

{% macro lpa_is_uuid(text_expr) -%}
    {{ lpa_matches(
        text_expr,
        '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
    ) }}
{%- endmacro %}

{#- Epoch milliseconds (Amplitude session ids, merge times) to a naive UTC timestamp, exact
    to the microsecond (dbt.dateadd casts milliseconds to a 32-bit int on DuckDB). -#}
{% macro lpa_epoch_ms_to_timestamp(bigint_expr) -%}
    {{ return(adapter.dispatch('lpa_epoch_ms_to_timestamp')(bigint_expr)) }}
{%- endmacro %}

{% macro default__lpa_epoch_ms_to_timestamp(bigint_expr) -%}
    make_timestamp(cast({{ bigint_expr }} as bigint) * 1000)
{%- endmacro %}

{% macro postgres__lpa_epoch_ms_to_timestamp(bigint_expr) -%}
    (cast('1970-01-01 00:00:00' as timestamp) + {{ bigint_expr }} * interval '1 millisecond')
{%- endmacro %}

{#- Trimmed, lower-case, hyphenated enum value: `service_api` and `Service-API` both become
    `service-api`. Dify's own values use hyphens except `end_user`, handled by the caller. -#}
{% macro lpa_normalise_enum(text_expr) -%}
    nullif(replace(lower(trim({{ text_expr }})), '_', '-'), '')
{%- endmacro %}

{#- Money and unit prices: exact decimals, as Dify stores them. -#}
{% macro lpa_to_decimal(text_expr, precision=20, scale=10) -%}
    case
        when {{ lpa_matches(text_expr, '^-?[0-9]+(\.[0-9]+)?$') }}
            then cast({{ text_expr }} as decimal({{ precision }}, {{ scale }}))
    end
{%- endmacro %}

{#- Dify's creator role keeps its underscore (`end_user`); legacy rows say `end-user`. -#}
{% macro lpa_normalise_creator_role(text_expr) -%}
    replace({{ lpa_normalise_enum(text_expr) }}, 'end-user', 'end_user')
{%- endmacro %}

{#- Exact seconds (with fractions) from one timestamp to a later one. -#}
{% macro lpa_seconds_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('lpa_seconds_between')(start_expr, end_expr)) }}
{%- endmacro %}

{#- Whole microseconds first: epoch() as a double carries rounding error at 1e-9. -#}
{% macro default__lpa_seconds_between(start_expr, end_expr) -%}
    ((epoch_us({{ end_expr }}) - epoch_us({{ start_expr }})) / 1000000.0)
{%- endmacro %}

{% macro postgres__lpa_seconds_between(start_expr, end_expr) -%}
    extract(epoch from ({{ end_expr }} - {{ start_expr }}))
{%- endmacro %}
