{#- One row per exposure event of a configured experiment: the person, the variant the event
    names and when. Three assignment sources (var experiments, assignment.source):
    - exposure: Amplitude `$exposure` events (fct_events `experiment_exposure`) whose
      properties.flag_key is the experiment's flag key; the variant is properties.variant;
    - user_property: Amplitude events whose user property snapshot holds the variant;
    - dify_prompt_version: the person's queries to the Dify app, the variant being the
      configured variant whose prompt_version_id the message used.
    Only events on reporting dates from the experiment's start to its end (inclusive).
    Incremental by person: a batch recomputes the persons its changed events had or have.
    Every column comes from the person's fct_events rows, except a user_property variant,
    read from the staged Amplitude row behind the event (a re-delivered copy of a uuid that
    differs only in user properties needs --full-refresh). -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_by('person_id')) }}
{%- set experiments = lpa_experiments() -%}
{%- set sources = experiments | map(attribute='source') | list -%}

with

events as (

    select * from {{ ref('fct_events') }}
    where {{ lpa_in_batch('person_id') }}

),

{% if 'user_property' in sources -%}
amplitude_events as (

    select * from {{ ref('stg_amplitude__events') }}

),
{%- endif %}

exposure_events as (

    select
        event_id,
        person_id,
        device_id,
        event_at,
        event_date,
        {{ lpa_parse_json_object('properties', {'flag_key': 'text', 'variant': 'text'}) }}
            as parsed_properties

    from events

    where event_name = 'experiment_exposure'

),

exposures as (

    {% for exp in experiments -%}
    select
        {{ lpa_literal(exp.experiment_id) }} as experiment_id,
        {%- if exp.source == 'exposure' %}
        exposure_events.person_id,
        {{ lpa_json_text('exposure_events.parsed_properties', 'variant') }} as variant,
        exposure_events.event_at as exposed_at,
        exposure_events.device_id,
        exposure_events.event_id
    from exposure_events
    where
        {{ lpa_json_text('exposure_events.parsed_properties', 'flag_key') }}
        = {{ lpa_literal(exp.flag_key) }}
        and {{ lpa_json_text('exposure_events.parsed_properties', 'variant') }} is not null
        and {{ lpa_experiment_dates('exposure_events.event_date', exp) }}
        {%- elif exp.source == 'user_property' %}
        events.person_id,
        {{ lpa_json_field_text('amplitude_events.user_properties', exp.property) }} as variant,
        events.event_at as exposed_at,
        events.device_id,
        events.event_id
    from amplitude_events
    inner join events
        on events.event_id = {{ dbt.hash(dbt.concat(["'amplitude|'", 'amplitude_events.amplitude_event_id'])) }}
    where
        {{ lpa_json_field_text('amplitude_events.user_properties', exp.property) }} is not null
        and {{ lpa_experiment_dates('events.event_date', exp) }}
        {%- else %}
        events.person_id,
        case events.prompt_version_id
            {%- for v in exp.variants %}
            when {{ lpa_literal(v.prompt_version_id) }} then {{ lpa_literal(v.name) }}
            {%- endfor %}
        end as variant,
        events.event_at as exposed_at,
        events.device_id,
        events.event_id
    from events
    where
        events.event_name = 'query_submitted'
        and events.app_id = {{ lpa_literal(exp.app_id) }}
        and events.prompt_version_id in (
            {%- for v in exp.variants %}{{ lpa_literal(v.prompt_version_id) }}{{ ', ' if not loop.last }}{% endfor -%}
        )
        and {{ lpa_experiment_dates('events.event_date', exp) }}
        {%- endif %}
    {{ 'union all' if not loop.last }}
    {% else -%}
    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        cast(null as timestamp) as exposed_at,
        cast(null as {{ dbt.type_string() }}) as device_id,
        cast(null as {{ dbt.type_string() }}) as event_id
    where 1 = 0
    {%- endfor %}

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        person_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        exposed_at,
        device_id,
        event_id

    from exposures

)

select * from final
