{#- Every pair of identifiers seen together, with the evidence: `same_event` (one Amplitude
    event carries both), `amplitude_merge` (the merged-ids export), `dify_end_user` (a Dify end
    user's session_id or external_user_id equals the Amplitude user_id, var dify_person_key). -#}
{%- set person_key = 'end_user_session_id' if var('dify_person_key') == 'session_id'
    else 'external_user_id' -%}

with

events as (

    select * from {{ ref('stg_amplitude__events') }}

),

merged_ids as (

    select * from {{ ref('stg_amplitude__merged_ids') }}

),

end_users as (

    select * from {{ ref('stg_dify__end_users') }}

),

device_user as (

    select
        'device_id' as identifier_a_type,
        device_id as identifier_a,
        'user_id' as identifier_b_type,
        user_id as identifier_b,
        'same_event' as evidence,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as event_count

    from events

    where device_id is not null and user_id is not null

    group by 1, 2, 3, 4, 5

),

amplitude_id_user as (

    select
        'amplitude_id' as identifier_a_type,
        {{ dbt.cast('amplitude_id', dbt.type_string()) }} as identifier_a,
        'user_id' as identifier_b_type,
        user_id as identifier_b,
        'same_event' as evidence,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as event_count

    from events

    where amplitude_id is not null and user_id is not null

    group by 1, 2, 3, 4, 5

),

merge_pairs as (

    select
        'amplitude_id' as identifier_a_type,
        {{ dbt.cast('amplitude_id', dbt.type_string()) }} as identifier_a,
        'amplitude_id' as identifier_b_type,
        {{ dbt.cast('merged_amplitude_id', dbt.type_string()) }} as identifier_b,
        'amplitude_merge' as evidence,
        merged_at as first_seen_at,
        merged_at as last_seen_at,
        1 as event_count

    from merged_ids

),

dify_end_user_user as (

    select
        'dify_end_user_id' as identifier_a_type,
        end_user_id as identifier_a,
        'user_id' as identifier_b_type,
        {{ person_key }} as identifier_b,
        'dify_end_user' as evidence,
        created_at as first_seen_at,
        updated_at as last_seen_at,
        1 as event_count

    from end_users

    where
        end_user_type != 'browser'
        and not coalesce(is_anonymous, false)
        and {{ lpa_nullif_blank(person_key) }} is not null
        and {{ person_key }} not in ({{ lpa_sql_list(var('dify_shared_session_ids')) }})

),

unioned as (

    select * from device_user
    union all
    select * from amplitude_id_user
    union all
    select * from merge_pairs
    union all
    select * from dify_end_user_user

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'identifier_a_type', "'|'", 'identifier_a', "'|'",
            'identifier_b_type', "'|'", 'identifier_b', "'|'", 'evidence'
        ])) }} as edge_id,
        *

    from unioned

)

select * from final
