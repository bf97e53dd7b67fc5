{#- Raw event names that the alias map (seed event_aliases) does not name: each is kept in
    fct_events under its snake_case form. Add a row to seeds/event_aliases.csv to map it. -#}
with

events as (

    select * from {{ ref('fct_events') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'source', "'|'", "coalesce(platform, '')", "'|'", 'raw_event_name'
        ])) }} as unmapped_event_name_id,
        source,
        platform,
        raw_event_name,
        event_name as fallback_event_name,
        count(*) as event_count,
        count(distinct person_id) as person_count,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at

    from events

    where not is_event_name_mapped

    group by 2, 3, 4, 5

)

select * from final
