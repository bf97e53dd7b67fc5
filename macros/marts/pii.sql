{#- Personal data on its way into the marts (docs block pii_policy). Every macro returns its
    input unchanged when var keep_pii is true, so one switch keeps clear values everywhere.

    - lpa_pii(expr): a salted SHA-256 (64 lower-case hex characters, identical on DuckDB and
      PostgreSQL) of a value that must stay joinable but not readable; null stays null. The
      salt is the environment variable LPA_PII_SALT (default empty). Set it in production: an
      unsalted hash of an email is reversed by hashing a list of candidate emails. Changing
      it changes every hash. It is no strong secret (it appears in dbt's compiled SQL), only a
      guard against dictionary look-ups by BI users.
    - lpa_pii_redact(text_expr): free text (error messages, review queue text) with every
      email address replaced by `<email>` and every IPv4 address by `<ip>`.
    - lpa_pii_json(json_text_expr): JSON object text (Amplitude event properties) without the
      top-level keys listed in var pii_property_keys (exact, case-sensitive names), then
      redacted as above. -#}

{% macro lpa_keep_pii() -%}
    {{ return(var('keep_pii', false) in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}

{#- Portable patterns (RE2 on DuckDB, ARE on PostgreSQL): no backslashes, no \b. -#}
{% macro lpa_pii_email_pattern() -%}
    {{ return('[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}') }}
{%- endmacro %}

{% macro lpa_pii_ipv4_pattern() -%}
    {{ return('[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}') }}
{%- endmacro %}

{% macro lpa_pii(expr) -%}
    {%- if lpa_keep_pii() -%}
        {{ expr }}
    {%- else -%}
        {%- set salt = env_var('LPA_PII_SALT', '') | replace("'", "''") -%}
        case
            when {{ expr }} is not null
                then {{ lpa_sha256(dbt.concat(["'" ~ salt ~ "'", dbt.cast(expr, dbt.type_string())])) }}
        end
    {%- endif -%}
{%- endmacro %}

{#- SHA-256 of a text as 64 lower-case hex characters (UTF-8 bytes on both adapters). -#}
{% macro lpa_sha256(text_expr) -%}
    {{ return(adapter.dispatch('lpa_sha256')(text_expr)) }}
{%- endmacro %}

{% macro default__lpa_sha256(text_expr) -%}
    sha256({{ text_expr }})
{%- endmacro %}

{% macro postgres__lpa_sha256(text_expr) -%}
    encode(sha256(convert_to({{ text_expr }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro lpa_pii_redact(text_expr) -%}
    {%- if lpa_keep_pii() -%}
        {{ text_expr }}
    {%- else -%}
        case
            when {{ text_expr }} like '%@%' or {{ text_expr }} like '%.%.%.%'
                then regexp_replace(
                    regexp_replace(
                        {{ text_expr }}, '{{ lpa_pii_email_pattern() }}', '<email>', 'g'
                    ),
                    '{{ lpa_pii_ipv4_pattern() }}', '<ip>', 'g'
                )
            else {{ text_expr }}
        end
    {%- endif -%}
{%- endmacro %}

{% macro lpa_pii_json(json_text_expr) -%}
    {%- if lpa_keep_pii() -%}
        {{ json_text_expr }}
    {%- else -%}
        {%- set keys = var('pii_property_keys', []) -%}
        {%- if keys is string -%}{%- set keys = [keys] -%}{%- endif -%}
        {%- if keys | length == 0 -%}
            {{ lpa_pii_redact(json_text_expr) }}
        {%- else -%}
            {%- set without_keys = lpa_json_drop_keys(json_text_expr, keys) -%}
            case
                when
                    {% for key in keys -%}
                        {{ json_text_expr }} like '%{{ tojson(key | string) | replace("'", "''") }}%'
                        {{- ' or' if not loop.last }}
                    {% endfor %}
                    then {{ lpa_pii_redact('(' ~ without_keys ~ ')') }}
                else {{ lpa_pii_redact(json_text_expr) }}
            end
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- A JSON object text without some top-level keys; anything that is not a JSON object is
    returned unchanged. -#}
{% macro lpa_json_drop_keys(json_text_expr, keys) -%}
    {{ return(adapter.dispatch('lpa_json_drop_keys')(json_text_expr, keys)) }}
{%- endmacro %}

{% macro default__lpa_json_drop_keys(json_text_expr, keys) -%}
    {%- set patch = {} -%}
    {%- for key in keys -%}{%- do patch.update({key | string: none}) -%}{%- endfor -%}
    case
        when json_valid({{ json_text_expr }}) and json_type({{ json_text_expr }}) = 'OBJECT'
            then cast(json_merge_patch(
                {{ json_text_expr }}, '{{ tojson(patch) | replace("'", "''") }}'
            ) as {{ dbt.type_string() }})
        else {{ json_text_expr }}
    end
{%- endmacro %}

{% macro postgres__lpa_json_drop_keys(json_text_expr, keys) -%}
    coalesce(
        cast({{ target.schema }}.lpa_try_jsonb_object({{ json_text_expr }}) - array[
            {%- for key in keys -%}
                '{{ key | string | replace("'", "''") }}'{{ ', ' if not loop.last }}
            {%- endfor -%}
        ] as text),
        {{ json_text_expr }}
    )
{%- endmacro %}
