{#- One row per experiment, metric and analysed person (fct_experiment_assignments
    is_included): the person's raw (uncapped) value of the metric in its window after the
    first exposure, the ratio denominator, and the pre-exposure value CUPED adjusts with.
    Windows are half-open on exposure time: [first exposure, first exposure + window_days)
    and, with pre_window_days, [first exposure - pre_window_days, first exposure); both also
    end on the experiment's end date (inclusive). A person without events has value 0.
    Incremental by person: a person's values depend on their own assignment and events only,
    so a batch recomputes the persons its changed events had or have (changing var
    experiments or experiment_metrics needs --full-refresh). -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_by('person_id')) }}
{%- set experiments = lpa_experiments() -%}
{#- Each distinct measure (event, value, where) becomes one column of metric_events, so the
    configured `where` sql sees fct_events columns only. -#}
{%- set measures = [] -%}
{%- set property_keys = [] -%}
{%- for exp in experiments -%}
    {%- for item in exp.metrics -%}
        {%- for measure in [item.metric.numerator, item.metric.denominator] if measure is mapping -%}
            {%- if measure not in measures -%}
                {%- do measures.append(measure) -%}
            {%- endif -%}
            {%- if measure.value and measure.value.startswith('properties.') -%}
                {%- do property_keys.append(measure.value[11:]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endfor -%}
{%- set property_keys = property_keys | unique | list -%}

with

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}
    where {{ lpa_in_batch('person_id') }}

),

events as (

    select * from {{ ref('fct_events') }}
    where {{ lpa_in_batch('person_id') }}

),

parsed_events as (

    select
        *,
        {% if property_keys -%}
        {{ lpa_parse_json_object('properties', dict.fromkeys(property_keys, 'text')) }}
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as parsed_properties

    from events

    where person_id in (select person_id from assignments where is_included)

),

metric_events as (

    select
        person_id,
        session_key,
        session_type,
        event_at,
        event_date,
        {%- for measure in measures %}
        case when {{ lpa_metric_match(measure) }}
            then cast({{ lpa_metric_value(measure) }} as double precision) end
            as measure_{{ loop.index }}{{ ',' if not loop.last }}
        {%- else %}
        cast(null as double precision) as measure_0
        {%- endfor %}

    from parsed_events

),

{% for exp in experiments -%}
{%- set exp_index = loop.index -%}
{%- set max_pre = exp.metrics | map(attribute='metric') | map(attribute='pre_window_days')
    | select('number') | max | default(0, true) -%}
per_person_{{ exp_index }} as (

    select
        assignments.experiment_id,
        assignments.person_id,
        assignments.variant,
        {%- for item in exp.metrics %}
        {%- set m = item.metric %}
        {%- set in_window = lpa_metric_window(m, exp) %}
        sum(case when {{ in_window }}
            then metric_events.measure_{{ measures.index(m.numerator) + 1 }} end) as numerator_{{ loop.index }},
        {%- if m.denominator == 'sessions' %}
        count(distinct case when {{ in_window }} and metric_events.session_type = 'amplitude_session'
            then metric_events.session_key end) as denominator_{{ loop.index }},
        {%- elif m.denominator %}
        sum(case when {{ in_window }}
            then metric_events.measure_{{ measures.index(m.denominator) + 1 }} end) as denominator_{{ loop.index }},
        {%- else %}
        cast(null as double precision) as denominator_{{ loop.index }},
        {%- endif %}
        {%- if m.pre_window_days %}
        sum(case when {{ lpa_metric_pre_window(m) }}
            then metric_events.measure_{{ measures.index(m.numerator) + 1 }} end) as pre_{{ loop.index }}
        {%- else %}
        cast(null as double precision) as pre_{{ loop.index }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}

    from assignments

    left join metric_events
        on
            assignments.person_id = metric_events.person_id
            and metric_events.event_at >= {{ dbt.dateadd('second', -(max_pre * 86400) | int,
                'assignments.first_exposure_at') }}
            {%- if exp.end %}
            and metric_events.event_date <= cast({{ lpa_literal(exp.end) }} as date)
            {%- endif %}

    where assignments.experiment_id = {{ lpa_literal(exp.experiment_id) }} and assignments.is_included

    group by 1, 2, 3

),

{% endfor -%}

unpivoted as (

    {% for exp in experiments -%}
    {%- set exp_index = loop.index -%}
    {%- for item in exp.metrics -%}
    {%- set m = item.metric %}
    select
        experiment_id,
        person_id,
        variant,
        {{ lpa_literal(m.name) }} as metric_name,
        {{ lpa_literal(m.kind) }} as metric_kind,
        {{ lpa_metric_person_value(m.kind, 'numerator_' ~ loop.index) }} as raw_value,
        {{ 'coalesce(denominator_' ~ loop.index ~ ', 0)' if m.denominator else 'cast(null as double precision)' }}
            as denominator_value,
        {{ lpa_metric_person_value(m.kind, 'pre_' ~ loop.index) if m.pre_window_days else 'cast(null as double precision)' }}
            as pre_value
    from per_person_{{ exp_index }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
    {{ 'union all' if not loop.last }}
    {% else -%}
    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as {{ dbt.type_string() }}) as metric_kind,
        cast(null as double precision) as raw_value,
        cast(null as double precision) as denominator_value,
        cast(null as double precision) as pre_value
    where 1 = 0
    {%- endfor %}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'experiment_id', "'|'", 'metric_name', "'|'", 'person_id'
        ])) }} as person_metric_id,
        experiment_id,
        metric_name,
        person_id,
        variant,
        metric_kind,
        cast(raw_value as double precision) as raw_value,
        cast(denominator_value as double precision) as denominator_value,
        cast(pre_value as double precision) as pre_value

    from unpivoted

)

select * from final
