{#- Weekly lifecycle (Amplitude "Lifecycle", weekly): per reporting week, how many active
    persons were new, returning or resurrected, and how many of last week's active persons
    went dormant. Definitions in the model's description. Linear: one lag/lead pass over the
    persons' distinct active weeks. -#}
with

activity as (

    select * from {{ ref('int_persons__daily_activity') }}

),

events as (

    select * from {{ ref('fct_events') }}

),

data_bounds as (

    select
        min(event_date) as first_data_date,
        max(event_date) as last_data_date,
        {{ lpa_week_start('min(event_date)') }} as first_week_start,
        {{ lpa_week_start('max(event_date)') }} as last_week_start

    from events

),

day_offsets as (

    {{ lpa_day_offsets() }}

),

week_spine as (

    select
        {{ lpa_add_days('data_bounds.first_week_start', 'day_offsets.day_offset * 7') }}
            as week_start

    from data_bounds

    cross join day_offsets

    where
        day_offsets.day_offset * 7
        <= {{ lpa_days_between('data_bounds.first_week_start', 'data_bounds.last_week_start') }}

),

person_weeks as (

    select distinct
        person_id,
        {{ lpa_week_start('activity_date') }} as week_start

    from activity

),

sequenced as (

    -- (person_id, week_start) is unique here, so week_start orders each person's weeks
    -- completely and needs no tie-breaker.
    select
        person_id,
        week_start,
        lag(week_start) over (
            partition by person_id order by week_start asc nulls last
        ) as previous_active_week,
        lead(week_start) over (
            partition by person_id order by week_start asc nulls last
        ) as next_active_week

    from person_weeks

),

active_statuses as (

    select
        week_start,
        count(*) as active_persons,
        sum(case when previous_active_week is null then 1 else 0 end) as new_persons,
        sum(
            case
                when previous_active_week = {{ lpa_add_days('week_start', -7) }} then 1 else 0
            end
        ) as returning_persons,
        sum(
            case
                when previous_active_week < {{ lpa_add_days('week_start', -7) }} then 1 else 0
            end
        ) as resurrected_persons

    from sequenced

    group by 1

),

dormancies as (

    -- Active in week W but not in week W + 1: counted as dormant in week W + 1.
    select
        {{ lpa_add_days('week_start', 7) }} as week_start,
        count(*) as dormant_persons

    from sequenced

    where
        next_active_week is null
        or next_active_week > {{ lpa_add_days('week_start', 7) }}

    group by 1

),

final as (

    select
        ---------- primary key
        week_spine.week_start,

        ---------- numerics
        cast(coalesce(active_statuses.active_persons, 0) as bigint) as active_persons,
        cast(coalesce(active_statuses.new_persons, 0) as bigint) as new_persons,
        cast(coalesce(active_statuses.returning_persons, 0) as bigint) as returning_persons,
        cast(coalesce(active_statuses.resurrected_persons, 0) as bigint) as resurrected_persons,
        cast(coalesce(dormancies.dormant_persons, 0) as bigint) as dormant_persons,
        cast(
            coalesce(active_statuses.new_persons, 0)
            + coalesce(active_statuses.resurrected_persons, 0) as double precision
        )
        / cast(nullif(dormancies.dormant_persons, 0) as double precision) as quick_ratio,

        ---------- booleans
        (
            week_spine.week_start >= data_bounds.first_data_date
            and {{ lpa_add_days('week_spine.week_start', 6) }} <= data_bounds.last_data_date
        ) as is_complete_week,

        ---------- dates
        {{ lpa_add_days('week_spine.week_start', 6) }} as week_end

    from week_spine

    cross join data_bounds

    left join active_statuses
        on week_spine.week_start = active_statuses.week_start

    left join dormancies
        on week_spine.week_start = dormancies.week_start

)

select * from final
