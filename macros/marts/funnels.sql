{#- Funnel configuration (var funnels), validated at compile time, and the single-pass SQL
    that finds every attempt's greedy earliest chain of steps. -#}

{#- fct_events columns a funnel may break down by or hold constant; dim_persons columns may be
    used for breakdown too (attributed to the person). -#}
{% macro lpa_funnel_event_columns() -%}
    {{ return(['platform', 'country', 'source', 'app_id', 'conversation_id', 'session_key',
               'prompt_version_id', 'model_name', 'model_provider', 'device_id', 'user_id',
               'event_name', 'event_date']) }}
{%- endmacro %}

{% macro lpa_funnel_person_columns() -%}
    {{ return(['first_platform', 'is_identified', 'primary_user_id']) }}
{%- endmacro %}

{#- A step or exclusion as {event, where}: a plain name is {event: name, where: null}. -#}
{% macro lpa_funnel_normalise_step(step, funnel_name) -%}
    {%- if step is string -%}
        {{ return({'event': step, 'where': none}) }}
    {%- elif step is mapping and step.get('event') -%}
        {{ return({'event': step['event'], 'where': step.get('where')}) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "funnel '" ~ funnel_name ~ "': a step must be an event name or {event: name, where: sql}; got " ~ step) }}
    {%- endif -%}
{%- endmacro %}

{% macro lpa_funnels() -%}
    {%- set funnels = [] -%}
    {%- set names = [] -%}
    {%- for raw in var('funnels', []) -%}
        {%- set name = raw.get('name') -%}
        {%- if not name or not (name is string) -%}
            {{ exceptions.raise_compiler_error("var funnels: every funnel needs a name; got " ~ raw) }}
        {%- endif -%}
        {%- if name in names -%}
            {{ exceptions.raise_compiler_error("var funnels: the name '" ~ name ~ "' is used twice") }}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- set steps = [] -%}
        {%- for step in raw.get('steps', []) -%}
            {%- do steps.append(lpa_funnel_normalise_step(step, name)) -%}
        {%- endfor -%}
        {%- if steps | length < 2 or steps | length > lpa_funnel_max_steps() -%}
            {{ exceptions.raise_compiler_error(
                "funnel '" ~ name ~ "': needs 2 to " ~ lpa_funnel_max_steps() ~ " steps, has " ~ (steps | length)) }}
        {%- endif -%}
        {%- for step in steps[1:] -%}
            {%- if step == steps[loop.index0] -%}
                {{ exceptions.raise_compiler_error(
                    "funnel '" ~ name ~ "': steps " ~ loop.index ~ " and " ~ (loop.index + 1)
                    ~ " are the same event; add a `where` to tell them apart") }}
            {%- endif -%}
        {%- endfor -%}
        {%- set order = raw.get('order', 'this_order') -%}
        {%- if order not in ['this_order', 'exact_order', 'any_order'] -%}
            {{ exceptions.raise_compiler_error(
                "funnel '" ~ name ~ "': order must be this_order, exact_order or any_order; got " ~ order) }}
        {%- endif -%}
        {%- set window = (raw.get('conversion_window') or {}).get('seconds') -%}
        {%- if not (window is number) or window <= 0 -%}
            {{ exceptions.raise_compiler_error(
                "funnel '" ~ name ~ "': conversion_window.seconds must be a positive number; got " ~ window) }}
        {%- endif -%}
        {%- set breakdown = raw.get('breakdown') -%}
        {%- if breakdown and breakdown not in lpa_funnel_event_columns() + lpa_funnel_person_columns() -%}
            {{ exceptions.raise_compiler_error(
                "funnel '" ~ name ~ "': breakdown '" ~ breakdown ~ "' is not one of "
                ~ (lpa_funnel_event_columns() + lpa_funnel_person_columns()) | join(', ')) }}
        {%- endif -%}
        {%- set hold = raw.get('hold_constant') -%}
        {%- if hold and hold not in lpa_funnel_event_columns() -%}
            {{ exceptions.raise_compiler_error(
                "funnel '" ~ name ~ "': hold_constant '" ~ hold ~ "' is not one of "
                ~ lpa_funnel_event_columns() | join(', ')) }}
        {%- endif -%}
        {%- set exclusions = [] -%}
        {%- for exclusion in raw.get('exclusions') or [] -%}
            {%- set between = exclusion.get('between') if exclusion is mapping else none -%}
            {%- if order == 'any_order' -%}
                {{ exceptions.raise_compiler_error(
                    "funnel '" ~ name ~ "': exclusions need ordered steps (this_order or exact_order)") }}
            {%- endif -%}
            {%- if not between or between | length != 2 or not (1 <= between[0] < between[1] <= steps | length) -%}
                {{ exceptions.raise_compiler_error(
                    "funnel '" ~ name ~ "': an exclusion needs between: [i, j] with 1 <= i < j <= "
                    ~ (steps | length) ~ "; got " ~ exclusion) }}
            {%- endif -%}
            {%- set normalised = lpa_funnel_normalise_step(exclusion, name) -%}
            {%- do exclusions.append({'event': normalised['event'], 'where': normalised['where'],
                                      'from_step': between[0], 'to_step': between[1]}) -%}
        {%- endfor -%}
        {%- do funnels.append({
            'name': name, 'steps': steps, 'order': order, 'window_seconds': window | int,
            'breakdown': breakdown, 'hold_constant': hold, 'exclusions': exclusions
        }) -%}
    {%- endfor -%}
    {%- if funnels | length == 0 -%}
        {{ exceptions.raise_compiler_error("var funnels: configure at least one funnel") }}
    {%- endif -%}
    {{ return(funnels) }}
{%- endmacro %}

{#- Wide outputs (step_1_at .. step_10_at) keep one fixed, contracted shape. -#}
{% macro lpa_funnel_max_steps() -%}
    {{ return(10) }}
{%- endmacro %}

{#- SQL condition for a step on fct_events columns. -#}
{% macro lpa_funnel_condition(step) -%}
    (event_name = '{{ step.event }}'{% if step.where %} and ({{ step.where }}){% endif %})
{%- endmacro %}

{#- The step-level funnel report over a progress relation (one row per funnel and person, or
    per funnel, person and entry date): by breakdown value with an `(all)` row, or by entry
    date. -#}
{% macro lpa_funnel_report(progress_relation, grouping) -%}
{%- set funnels = lpa_funnels() -%}
{%- set max_steps = lpa_funnel_max_steps() -%}
{%- set by_date = 'entry_date' in grouping -%}

with

progress as (

    select * from {{ progress_relation }}

),

steps as (

    {% for funnel in funnels -%}
    {%- set funnel_loop = loop -%}
    {%- for step in funnel.steps -%}
    select
        '{{ funnel.name }}' as funnel_name,
        {{ "'" ~ funnel.breakdown ~ "'" if funnel.breakdown else 'cast(null as ' ~ dbt.type_string() ~ ')' }}
            as breakdown_by,
        {{ loop.index }} as step_index,
        '{{ step.event }}' as step_name
    {% if not (funnel_loop.last and loop.last) %}union all
    {% endif %}
    {%- endfor %}
    {%- endfor %}

),

grouped as (

    {% if by_date -%}
    select
        *,
        {{ dbt.cast('entry_date', dbt.type_string()) }} as group_value
    from progress
    {%- else -%}
    select
        *,
        coalesce(breakdown_value, '(none)') as group_value
    from progress
    union all
    select
        *,
        '(all)' as group_value
    from progress
    {%- endif %}

),

person_steps as (

    select
        grouped.funnel_name,
        grouped.group_value,
        steps.breakdown_by,
        steps.step_index,
        steps.step_name,
        {%- if by_date %}
        grouped.entry_date,
        grouped.window_ends_at,
        -- The end of the data (not stored per row upstream: it moves with every batch).
        (
            select max(fct_events.event_at) from {{ ref('fct_events') }} as fct_events
        ) as data_ends_at,
        {%- endif %}
        grouped.furthest_step >= steps.step_index as is_reached,
        grouped.furthest_step >= steps.step_index - 1
        and grouped.furthest_step < steps.step_index
        and grouped.is_window_open as is_in_progress,
        case
            {%- for k in range(1, max_steps + 1) %}
            when steps.step_index = {{ k }} then grouped.step_{{ k }}_at
            {%- endfor %}
        end as reached_at,
        case
            {%- for k in range(2, max_steps + 1) %}
            when steps.step_index = {{ k }} then grouped.step_{{ k - 1 }}_at
            {%- endfor %}
        end as previous_at

    from grouped

    inner join steps
        on grouped.funnel_name = steps.funnel_name

),

aggregated as (

    select
        funnel_name,
        group_value,
        breakdown_by,
        step_index,
        step_name,
        cast(sum(case when is_reached then 1 else 0 end) as bigint) as persons,
        cast(sum(case when is_in_progress then 1 else 0 end) as bigint) as persons_in_progress,
        cast(sum(case when step_index = 1 and is_reached then 1 else 0 end) as bigint)
            as persons_at_first_step,
        {{ lpa_percentile(
            'case when is_reached and step_index > 1 then '
            ~ lpa_seconds_between('previous_at', 'reached_at') ~ ' end', 0.5) }}
            as median_seconds_from_previous,
        {{ lpa_percentile(
            'case when is_reached and step_index > 1 then '
            ~ lpa_seconds_between('previous_at', 'reached_at') ~ ' end', 0.9) }}
            as p90_seconds_from_previous
        {%- if by_date %},
        max(window_ends_at) <= max(data_ends_at) as is_window_complete
        {%- endif %}

    from person_steps

    group by 1, 2, 3, 4, 5

),

with_previous as (

    select
        *,
        max(persons_at_first_step) over (partition by funnel_name, group_value)
            as first_step_persons,
        lag(persons) over (
            partition by funnel_name, group_value order by step_index asc
        ) as previous_step_persons,
        sum(persons_in_progress) over (
            partition by funnel_name, group_value
            order by step_index asc
            rows between unbounded preceding and current row
        ) as persons_in_progress_so_far

    from aggregated

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'funnel_name', "'|'", 'group_value', "'|'", dbt.cast('step_index', dbt.type_string())
        ])) }} as {{ 'funnel_trend_id' if by_date else 'funnel_conversion_id' }},
        funnel_name,
        {%- if by_date %}
        cast(group_value as date) as entry_date,
        {%- else %}
        breakdown_by,
        group_value as breakdown_value,
        {%- endif %}
        step_index,
        step_name,
        persons,
        persons_in_progress,
        cast(
            case
                when step_index = 1 then persons
                else first_step_persons - persons_in_progress_so_far
            end as bigint
        ) as persons_eligible_from_start,
        cast(
            case
                when step_index = 1 then persons
                else previous_step_persons - persons_in_progress
            end as bigint
        ) as persons_eligible_from_previous,
        cast(persons as double precision)
        / nullif(
            case
                when step_index = 1 then persons
                else first_step_persons - persons_in_progress_so_far
            end, 0
        ) as conversion_from_start,
        cast(persons as double precision)
        / nullif(
            case
                when step_index = 1 then persons
                else previous_step_persons - persons_in_progress
            end, 0
        ) as conversion_from_previous,
        cast(median_seconds_from_previous as double precision) as median_seconds_from_previous,
        cast(p90_seconds_from_previous as double precision) as p90_seconds_from_previous
        {%- if by_date %},
        is_window_complete
        {%- endif %}

    from with_previous

)

select * from final
{%- endmacro %}
