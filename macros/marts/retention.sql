{#- Activity, retention and daily-KPI configuration (vars non_activity_events, retention,
    kpis), validated at compile time, and the small date helpers the three product marts
    share (rpt_retention, rpt_daily_kpis, rpt_lifecycle_weekly). -#}

{#- A name that may be pasted into SQL as an identifier or a quoted literal. -#}
{% macro lpa_is_plain_name(value) -%}
    {{ return(value is string and modules.re.match('^[A-Za-z_$][A-Za-z0-9_$ .:-]*$', value) is not none) }}
{%- endmacro %}

{#- True for events that make a person active: every event whose name is not in var
    non_activity_events (session bookkeeping). -#}
{% macro lpa_is_activity_event(event_name_expr) -%}
    {%- set excluded = var('non_activity_events', []) or [] -%}
    {%- if excluded is string -%}
        {{ exceptions.raise_compiler_error(
            "var non_activity_events must be a list of event names; got '" ~ excluded ~ "'") }}
    {%- endif -%}
    {%- if excluded | length == 0 -%}
        ({{ event_name_expr }} is not null)
    {%- else -%}
        ({{ event_name_expr }} not in ({{ lpa_sql_list(excluded) }}))
    {%- endif -%}
{%- endmacro %}

{#- var retention with its defaults, checked: grain day|week, periods non-negative integers,
    brackets [a, b] with 0 <= a <= b, optional cohort/return event names and a dim_persons
    breakdown column. -#}
{% macro lpa_retention_config() -%}
    {%- set raw = var('retention', {}) or {} -%}
    {%- set grain = raw.get('grain') or 'day' -%}
    {%- if grain not in ['day', 'week'] -%}
        {{ exceptions.raise_compiler_error("var retention.grain must be day or week; got " ~ grain) }}
    {%- endif -%}
    {%- set periods = [] -%}
    {%- for period in raw.get('periods') or [] -%}
        {%- if not (period is number) or period < 0 or period != (period | int) -%}
            {{ exceptions.raise_compiler_error(
                "var retention.periods must be non-negative integers; got " ~ period) }}
        {%- endif -%}
        {%- if (period | int) not in periods -%}
            {%- do periods.append(period | int) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set brackets = [] -%}
    {%- for bracket in raw.get('brackets') or [] -%}
        {%- if bracket is string or bracket is mapping or not (bracket is iterable)
            or bracket | length != 2 -%}
            {{ exceptions.raise_compiler_error(
                "var retention.brackets: each bracket is [first_period, last_period]; got " ~ bracket) }}
        {%- endif -%}
        {%- set first = bracket[0] -%}
        {%- set last = bracket[1] -%}
        {%- if not (first is number) or not (last is number) or first < 0 or first > last
            or first != (first | int) or last != (last | int) -%}
            {{ exceptions.raise_compiler_error(
                "var retention.brackets: need integers 0 <= first <= last; got " ~ bracket) }}
        {%- endif -%}
        {%- if [first | int, last | int] not in brackets -%}
            {%- do brackets.append([first | int, last | int]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if periods | length == 0 and brackets | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var retention: configure at least one period or bracket") }}
    {%- endif -%}
    {%- for key in ['cohort_event', 'return_event'] -%}
        {%- if raw.get(key) is not none and not lpa_is_plain_name(raw.get(key)) -%}
            {{ exceptions.raise_compiler_error(
                "var retention." ~ key ~ " must be null or an event name; got " ~ raw.get(key)) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set breakdown = raw.get('breakdown') -%}
    {%- if breakdown is not none and (not (breakdown is string)
        or modules.re.match('^[a-z_][a-z0-9_]*$', breakdown) is none) -%}
        {{ exceptions.raise_compiler_error(
            "var retention.breakdown must be null or a dim_persons column name; got " ~ breakdown) }}
    {%- endif -%}
    {{ return({
        'grain': grain,
        'periods': periods,
        'brackets': brackets,
        'cohort_event': raw.get('cohort_event'),
        'return_event': raw.get('return_event'),
        'breakdown': breakdown,
    }) }}
{%- endmacro %}

{#- var kpis with its defaults, checked. -#}
{% macro lpa_kpis_config() -%}
    {%- set raw = var('kpis', {}) or {} -%}
    {%- set defaults = {
        'mau_days': 30,
        'activation_days': 7,
        'signup_event': 'sign_up',
        'activation_event': 'result_exported',
        'impression_event': 'banner_impression',
        'click_event': 'click_banner',
        'share_events': [],
        'revenue_event': 'revenue',
        'revenue_property': '$revenue',
    } -%}
    {%- set settings = {} -%}
    {%- for key, default in defaults.items() -%}
        {%- do settings.update({key: default if raw.get(key) is none else raw.get(key)}) -%}
    {%- endfor -%}
    {%- for key in ['mau_days', 'activation_days'] -%}
        {%- if not (settings[key] is number) or settings[key] < 1 or settings[key] != (settings[key] | int) -%}
            {{ exceptions.raise_compiler_error("var kpis." ~ key ~ " must be a positive integer; got " ~ settings[key]) }}
        {%- endif -%}
    {%- endfor -%}
    {%- for key in ['signup_event', 'activation_event', 'impression_event', 'click_event',
                    'revenue_event', 'revenue_property'] -%}
        {%- if not lpa_is_plain_name(settings[key]) -%}
            {{ exceptions.raise_compiler_error("var kpis." ~ key ~ " must be an event or property name; got " ~ settings[key]) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if settings['share_events'] is string -%}
        {%- do settings.update({'share_events': [settings['share_events']]}) -%}
    {%- endif -%}
    {%- for name in settings['share_events'] -%}
        {%- if not lpa_is_plain_name(name) -%}
            {{ exceptions.raise_compiler_error("var kpis.share_events must be event names; got " ~ name) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(settings) }}
{%- endmacro %}

{#- The date `days_expr` days after `date_expr`, as a date on every adapter. -#}
{% macro lpa_add_days(date_expr, days_expr) -%}
    cast({{ dbt.dateadd('day', days_expr, date_expr) }} as date)
{%- endmacro %}

{#- Whole days from one date to a later one, as an integer on every adapter. -#}
{% macro lpa_days_between(first_date_expr, second_date_expr) -%}
    cast({{ dbt.datediff(first_date_expr, second_date_expr, 'day') }} as integer)
{%- endmacro %}

{#- Monday of the (ISO) week of a date, as a date. Truncates a timestamp without time zone, so
    the session time zone of PostgreSQL plays no part. -#}
{% macro lpa_week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', 'cast(' ~ date_expr ~ ' as timestamp)') }} as date)
{%- endmacro %}

{#- Longest date spine the marts build: 100 years of days. -#}
{% macro lpa_max_spine_days() -%}
    {{ return(36525) }}
{%- endmacro %}

{#- One row per integer `day_offset` 0, 1, …, lpa_max_spine_days() - 1: the offsets of a date
    spine, filtered by the caller to the data's range. -#}
{% macro lpa_day_offsets() -%}
    select cast(offsets.generated_number - 1 as integer) as day_offset
    from ({{ dbt.generate_series(lpa_max_spine_days()) }}) as offsets
{%- endmacro %}
