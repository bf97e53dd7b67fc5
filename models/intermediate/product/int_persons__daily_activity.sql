{#- One row per person and reporting date on which the person was active: they have at least
    one fct_events row that day whose event_name is not in var non_activity_events (session
    bookkeeping). The person's first active date is their "first seen" date. -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_by('person_id')) }}
with

events as (

    select * from {{ ref('fct_events') }}
    where {{ lpa_in_batch('person_id') }}

),

activity_days as (

    select
        person_id,
        event_date as activity_date,
        count(*) as activity_event_count

    from events

    where {{ lpa_is_activity_event('event_name') }}

    group by 1, 2

),

sequenced as (

    -- (person_id, activity_date) is unique here, so activity_date orders each person's days
    -- completely and needs no tie-breaker.
    select
        person_id,
        activity_date,
        activity_event_count,
        min(activity_date) over (partition by person_id) as first_active_date,
        lag(activity_date) over (
            partition by person_id order by activity_date asc nulls last
        ) as previous_active_date,
        lead(activity_date) over (
            partition by person_id order by activity_date asc nulls last
        ) as next_active_date

    from activity_days

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat([
            'person_id', "'|'", dbt.cast('activity_date', dbt.type_string())
        ])) }} as person_activity_day_id,
        person_id,

        ---------- numerics
        cast(activity_event_count as bigint) as activity_event_count,
        {{ lpa_days_between('first_active_date', 'activity_date') }} as days_since_first_active,

        ---------- booleans
        activity_date = first_active_date as is_first_active_date,

        ---------- dates
        activity_date,
        first_active_date,
        previous_active_date,
        next_active_date

    from sequenced

)

select * from final
