{#- Identity facts a reviewer should see: devices shared by several users (split, never
    merged), Amplitude merges that would join two different users (refused), Amplitude ids
    seen with several users, and Dify end users whose id is a shared placeholder. -#}
with

device_owners as (

    select * from {{ ref('int_identity__device_owners') }}

),

amplitude_id_owners as (

    select * from {{ ref('int_identity__amplitude_id_owners') }}

),

-- not materialized: PostgreSQL would materialize a CTE used three times, and a CTE scan has
-- no statistics, so the refused_merges self-join was planned as nested loops (minutes at 1M
-- events).
edges as not materialized (

    select * from {{ ref('int_identity__edges') }}

),

end_users as (

    select * from {{ ref('stg_dify__end_users') }}

),

shared_devices as (

    select
        'shared_device' as conflict_type,
        'device_id' as identifier_type,
        device_id as identifier,
        count(distinct user_id) as user_count,
        {{ dbt.listagg('distinct user_id', "', '", "order by user_id") }} as user_ids,
        'split by owner interval' as resolution

    from device_owners

    group by 1, 2, 3

    having count(distinct user_id) > 1

),

refused_merges as (

    select
        'refused_merge' as conflict_type,
        'amplitude_id' as identifier_type,
        merge_edges.identifier_a as identifier,
        2 as user_count,
        {{ dbt.concat(['merged_users.identifier_b', "', '", 'target_users.identifier_b']) }}
            as user_ids,
        'user ids are never merged' as resolution

    from edges as merge_edges

    inner join edges as merged_users
        on
            merge_edges.identifier_a = merged_users.identifier_a
            and merged_users.identifier_a_type = 'amplitude_id'
            and merged_users.identifier_b_type = 'user_id'

    inner join edges as target_users
        on
            merge_edges.identifier_b = target_users.identifier_a
            and target_users.identifier_a_type = 'amplitude_id'
            and target_users.identifier_b_type = 'user_id'

    where
        merge_edges.evidence = 'amplitude_merge'
        and merged_users.identifier_b != target_users.identifier_b

),

ambiguous_amplitude_ids as (

    select
        'amplitude_id_with_several_users' as conflict_type,
        'amplitude_id' as identifier_type,
        {{ dbt.cast('amplitude_id', dbt.type_string()) }} as identifier,
        user_count,
        cast(null as {{ dbt.type_string() }}) as user_ids,
        'not used to resolve anonymous events' as resolution

    from amplitude_id_owners

    where user_count > 1

),

shared_dify_ids as (

    select
        'shared_dify_end_user' as conflict_type,
        'dify_end_user_id' as identifier_type,
        end_user_id as identifier,
        0 as user_count,
        end_user_session_id as user_ids,
        'a person of its own, not linked to any user' as resolution

    from end_users

    where end_user_session_id in ({{ lpa_sql_list(var('dify_shared_session_ids')) }})

),

unioned as (

    select * from shared_devices
    union all
    select * from refused_merges
    union all
    select * from ambiguous_amplitude_ids
    union all
    select * from shared_dify_ids

),

final as (

    select
        {{ dbt.hash(dbt.concat(['conflict_type', "'|'", 'identifier_type', "'|'", 'identifier'])) }}
            as conflict_id,
        *

    from unioned

)

select * from final
