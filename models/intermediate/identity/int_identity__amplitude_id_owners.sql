{#- The user behind each Amplitude id: the one user seen on the id itself; for an id seen
    with no user (an anonymous device's id), the one user seen on its merge target (merges
    resolved through up to two hops). Ids seen with several users are owned by nobody and
    reported in rpt_identity_conflicts; a merge never makes one user another. -#}
with

events as (

    select * from {{ ref('stg_amplitude__events') }}

),

merged_ids as (

    select * from {{ ref('stg_amplitude__merged_ids') }}

),

amplitude_ids as (

    select distinct amplitude_id from events
    where amplitude_id is not null

),

canonical as (

    select
        amplitude_ids.amplitude_id,
        coalesce(
            second_hop.merged_amplitude_id,
            first_hop.merged_amplitude_id,
            amplitude_ids.amplitude_id
        ) as canonical_amplitude_id

    from amplitude_ids

    left join merged_ids as first_hop
        on amplitude_ids.amplitude_id = first_hop.amplitude_id

    left join merged_ids as second_hop
        on first_hop.merged_amplitude_id = second_hop.amplitude_id

),

direct_users as (

    select
        amplitude_id,
        count(distinct user_id) as user_count,
        min(user_id) as user_id

    from events

    where amplitude_id is not null and user_id is not null

    group by 1

),

final as (

    select
        canonical.amplitude_id,
        canonical.canonical_amplitude_id,
        case
            when own.user_count = 1 then own.user_id
            when own.amplitude_id is null and merge_target.user_count = 1 then merge_target.user_id
        end as user_id,
        coalesce(own.user_count, 0) as user_count

    from canonical

    left join direct_users as own
        on canonical.amplitude_id = own.amplitude_id

    left join direct_users as merge_target
        on canonical.canonical_amplitude_id = merge_target.amplitude_id

)

select * from final
