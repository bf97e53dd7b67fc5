{#- One row per person seen in fct_events. A person is identified when they have a user_id;
    otherwise they are an anonymous device or a Dify caller that is nobody's user id.
    Incremental: a batch recomputes the persons its changed events had or have. -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_by('person_id')) }}
with

events as (

    select * from {{ ref('fct_events') }}
    where {{ lpa_in_batch('person_id') }}

),

first_platforms as (

    select
        person_id,
        platform,
        row_number() over (
            partition by person_id order by event_at asc, event_id asc
        ) as platform_rank

    from events

    where platform is not null

),

per_person as (

    select
        person_id,
        max(user_id) as primary_user_id,
        count(distinct device_id) as device_count,
        count(*) as event_count,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at

    from events

    group by 1

),

final as (

    select
        per_person.person_id,
        per_person.primary_user_id,
        first_platforms.platform as first_platform,
        per_person.device_count,
        per_person.event_count,
        per_person.primary_user_id is not null as is_identified,
        per_person.first_seen_at,
        per_person.last_seen_at

    from per_person

    left join first_platforms
        on
            per_person.person_id = first_platforms.person_id
            and first_platforms.platform_rank = 1

)

select * from final
