{#- Cohort retention (Amplitude's "return on" / "return on or after" / bracket retention), one
    row per cohort start, breakdown value, retention kind and period or bracket, plus a row per
    breakdown value, kind and period pooled over all cohorts (`is_pooled`). Configured by var
    retention; every definition is spelled out in the model's description. Linear in the
    number of person-periods: one pass over the persons' return periods, then per-cohort
    sums. -#}
{%- set settings = lpa_retention_config() -%}
{%- set week = settings.grain == 'week' -%}
{%- set period_days = 7 if week else 1 -%}
{%- set unit_text = "'W'" if week else "'D'" -%}
{%- set start_text = dbt.cast('period_start', dbt.type_string()) -%}
{%- set end_text = dbt.cast('period_end', dbt.type_string()) -%}

with

activity as (

    select * from {{ ref('int_persons__daily_activity') }}

),

events as (

    select * from {{ ref('fct_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

data_bounds as (

    -- The last date of the data: the latest reporting date of any event.
    select max(event_date) as last_data_date

    from events

),

cohort_dates as (

    {% if settings.cohort_event is none -%}
        -- Cohort date: the person's first active date.
        select
            person_id,
            min(activity_date) as cohort_date

        from activity

        group by 1
    {%- else -%}
        -- Cohort date: the person's first {{ settings.cohort_event }} date.
        select
            person_id,
            min(event_date) as cohort_date

        from events

        where event_name = {{ lpa_sql_list([settings.cohort_event]) }}

        group by 1
    {%- endif %}

),

return_dates as (

    {% if settings.return_event is none -%}
        -- A return is any active date.
        select
            person_id,
            activity_date as return_date

        from activity
    {%- else -%}
        -- A return is a date with a {{ settings.return_event }} event.
        select distinct
            person_id,
            event_date as return_date

        from events

        where event_name = {{ lpa_sql_list([settings.return_event]) }}
    {%- endif %}

),

cohorts as (

    select
        cohort_dates.person_id,
        {% if week -%}
            {{ lpa_week_start('cohort_dates.cohort_date') }} as cohort_start,
        {%- else -%}
            cohort_dates.cohort_date as cohort_start,
        {%- endif %}
        {% if settings.breakdown is none -%}
            'all' as breakdown_value
        {%- else -%}
            coalesce(
                cast(persons.{{ settings.breakdown }} as {{ dbt.type_string() }}), '(none)'
            ) as breakdown_value
        {%- endif %}

    from cohort_dates

    -- Joined even without a breakdown, so that the model's dependencies never change.
    left join persons  -- noqa: ST11
        on cohort_dates.person_id = persons.person_id

),

return_periods as (

    -- Period index of each return: whole days (day grain) or weeks (week grain, both ends
    -- truncated to their Monday) after the cohort start; returns before it are ignored.
    select distinct
        cohorts.person_id,
        {% if week -%}
            cast(
                {{ lpa_days_between(
                    'cohorts.cohort_start', lpa_week_start('return_dates.return_date')
                ) }} / 7 as integer
            ) as period_index
        {%- else -%}
            {{ lpa_days_between('cohorts.cohort_start', 'return_dates.return_date') }}
                as period_index
        {%- endif %}

    from cohorts

    inner join return_dates
        on
            cohorts.person_id = return_dates.person_id
            and cohorts.cohort_start <= return_dates.return_date

),

person_returns as (

    -- One row per cohort member: did they return exactly in period N, in any period of each
    -- bracket, and their last return period (for "on or after").
    select
        cohorts.person_id,
        cohorts.cohort_start,
        cohorts.breakdown_value,
        {% for period in settings.periods -%}
            max(case when return_periods.period_index = {{ period }} then 1 else 0 end)
                as returned_in_{{ period }},
        {% endfor -%}
        {% for bracket in settings.brackets -%}
            max(
                case
                    when return_periods.period_index between {{ bracket[0] }} and {{ bracket[1] }}
                        then 1
                    else 0
                end
            ) as returned_in_{{ bracket[0] }}_to_{{ bracket[1] }},
        {% endfor -%}
        max(return_periods.period_index) as last_return_period

    from cohorts

    left join return_periods
        on cohorts.person_id = return_periods.person_id

    group by 1, 2, 3

),

cohort_sums as (

    select
        person_returns.cohort_start,
        person_returns.breakdown_value,
        count(*) as cohort_size,
        {% for period in settings.periods -%}
            sum(person_returns.returned_in_{{ period }}) as returned_on_{{ period }},
            sum(
                case when person_returns.last_return_period >= {{ period }} then 1 else 0 end
            ) as returned_on_or_after_{{ period }},
        {% endfor -%}
        {% for bracket in settings.brackets -%}
            sum(person_returns.returned_in_{{ bracket[0] }}_to_{{ bracket[1] }})
                as returned_in_{{ bracket[0] }}_to_{{ bracket[1] }},
        {% endfor -%}
        max(data_bounds.last_data_date) as last_data_date

    from person_returns

    cross join data_bounds

    group by 1, 2

),

{#- Every (kind, first period, last period, retained column) the settings asks for. -#}
{%- set measures = [] -%}
{%- for period in settings.periods -%}
    {%- do measures.append(['n_day', period, period, 'returned_on_' ~ period]) -%}
{%- endfor -%}
{%- for period in settings.periods -%}
    {%- do measures.append(['unbounded', period, none, 'returned_on_or_after_' ~ period]) -%}
{%- endfor -%}
{%- for bracket in settings.brackets -%}
    {%- do measures.append([
        'bracket', bracket[0], bracket[1],
        'returned_in_' ~ bracket[0] ~ '_to_' ~ bracket[1]
    ]) -%}
{%- endfor %}

measured as (

    -- One row per cohort and configured measure, with the last day of its deciding period:
    -- N for n_day and unbounded, b for a bracket [a, b]; day c + N, or the Sunday of week
    -- c + N.
    {% for kind, first_period, last_period, retained_column in measures -%}
        {%- set deciding_period = last_period if last_period is not none else first_period -%}
        select
            cohort_start,
            breakdown_value,
            '{{ kind }}' as retention_kind,
            {{ first_period }} as period_start,
            {{ 'cast(null as integer)' if last_period is none else last_period }} as period_end,
            cohort_size,
            {{ retained_column }} as returned_persons,
            {{ lpa_add_days('cohort_start', (deciding_period + 1) * period_days - 1) }}
                as deciding_period_last_date,
            last_data_date

        from cohort_sums
        {% if not loop.last %}
            union all
        {% endif -%}
    {%- endfor %}

),

per_cohort as (

    -- Eligible when the deciding period has ended on or before the last date of the data;
    -- otherwise neither eligible nor retained.
    select
        cohort_start,
        breakdown_value,
        retention_kind,
        period_start,
        period_end,
        cohort_size,
        case
            when deciding_period_last_date <= last_data_date then cohort_size else 0
        end as eligible_persons,
        case
            when deciding_period_last_date <= last_data_date then returned_persons else 0
        end as retained_persons

    from measured

),

pooled as (

    select
        cast(null as date) as cohort_start,
        breakdown_value,
        retention_kind,
        period_start,
        period_end,
        sum(cohort_size) as cohort_size,
        sum(eligible_persons) as eligible_persons,
        sum(retained_persons) as retained_persons

    from per_cohort

    group by 2, 3, 4, 5

),

unioned as (

    select
        false as is_pooled,
        per_cohort.*

    from per_cohort

    union all

    select
        true as is_pooled,
        pooled.*

    from pooled

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat([
            "coalesce(" ~ dbt.cast('cohort_start', dbt.type_string()) ~ ", 'pooled')", "'|'",
            'breakdown_value', "'|'",
            'retention_kind', "'|'",
            dbt.cast('period_start', dbt.type_string()), "'|'",
            "coalesce(" ~ dbt.cast('period_end', dbt.type_string()) ~ ", '')"
        ])) }} as retention_id,

        ---------- strings
        '{{ settings.grain }}' as grain,
        '{{ settings.breakdown or "all" }}' as breakdown_by,
        breakdown_value,
        retention_kind,
        case
            when retention_kind = 'n_day'
                then {{ dbt.concat([unit_text, start_text]) }}
            when retention_kind = 'unbounded'
                then {{ dbt.concat([unit_text, start_text, "'+'"]) }}
            else {{ dbt.concat([unit_text, start_text, "'-'", unit_text, end_text]) }}
        end as period_label,

        ---------- numerics
        cast(period_start as integer) as period_start,
        cast(period_end as integer) as period_end,
        cast(cohort_size as bigint) as cohort_size,
        cast(eligible_persons as bigint) as eligible_persons,
        cast(retained_persons as bigint) as retained_persons,
        cast(retained_persons as double precision)
        / cast(nullif(eligible_persons, 0) as double precision) as retention_rate,

        ---------- booleans
        is_pooled,

        ---------- dates
        cohort_start

    from unioned

)

select * from final
