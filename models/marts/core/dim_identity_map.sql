{#- Every identifier and the person it belongs to, with the interval it held: devices are
    split by owner (int_identity__device_owners); user ids, Amplitude ids and Dify end users
    belong to one person for good. Intervals are half-open [valid_from, valid_to), null =
    unbounded. Incremental: a batch recomputes the user ids, devices and Amplitude ids its
    changed events carry or carried, every merged Amplitude id, and the Dify end users. -#}
-- depends_on: {{ ref('int_events__changed_keys') }}, {{ ref('stg_amplitude__merged_ids') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ lpa_delete_changed_identifiers() }}"
) }}

with

events as (

    select * from {{ ref('fct_events') }}

),

device_owners as (

    select * from {{ ref('int_identity__device_owners') }}

),

amplitude_id_owners as (

    select * from {{ ref('int_identity__amplitude_id_owners') }}

),

end_users as (

    select * from {{ ref('stg_dify__end_users') }}

),

edges as (

    select * from {{ ref('int_identity__edges') }}

),

users as (

    select
        'user_id' as identifier_type,
        user_id as identifier,
        {{ lpa_person_id('user', 'user_id') }} as person_id,
        cast(null as timestamp) as valid_from,
        cast(null as timestamp) as valid_to

    from events

    where user_id is not null and {{ lpa_in_batch('user_id') }}

    group by 1, 2, 3

),

owned_devices as (

    select
        'device_id' as identifier_type,
        device_id as identifier,
        {{ lpa_person_id('user', 'user_id') }} as person_id,
        valid_from,
        valid_to

    from device_owners

    where {{ lpa_in_batch('device_id') }}

),

anonymous_devices as (

    -- A device nobody logged in on belongs to the person of its events (a merged Amplitude id
    -- can tie it to a user), else to itself.
    select
        'device_id' as identifier_type,
        events.device_id as identifier,
        case
            when count(distinct events.person_id) = 1 then min(events.person_id)
            else {{ lpa_person_id('device', 'events.device_id') }}
        end as person_id,
        cast(null as timestamp) as valid_from,
        cast(null as timestamp) as valid_to

    from events

    left join device_owners
        on events.device_id = device_owners.device_id

    where
        events.device_id is not null
        and device_owners.device_id is null
        and {{ lpa_in_batch('events.device_id', 'device_id') }}

    group by 1, 2

),

amplitude_ids as (

    select
        'amplitude_id' as identifier_type,
        {{ dbt.cast('amplitude_id', dbt.type_string()) }} as identifier,
        {{ lpa_person_id('user', 'user_id') }} as person_id,
        cast(null as timestamp) as valid_from,
        cast(null as timestamp) as valid_to

    from amplitude_id_owners

    where user_id is not null and {{ lpa_in_changed_amplitude_ids('amplitude_id') }}

),

anonymous_amplitude_ids as (

    -- An anonymous device's Amplitude id belongs to the person of its events, when that is one
    -- person.
    select
        'amplitude_id' as identifier_type,
        {{ dbt.cast('events.amplitude_id', dbt.type_string()) }} as identifier,
        min(events.person_id) as person_id,
        cast(null as timestamp) as valid_from,
        cast(null as timestamp) as valid_to

    from events

    left join amplitude_id_owners
        on events.amplitude_id = amplitude_id_owners.amplitude_id

    where
        events.amplitude_id is not null
        and amplitude_id_owners.user_id is null
        and {{ lpa_in_changed_amplitude_ids('events.amplitude_id') }}

    group by 1, 2

    having count(distinct events.person_id) = 1

),

dify_end_users as (

    select
        'dify_end_user_id' as identifier_type,
        end_users.end_user_id as identifier,
        case
            when edges.identifier_b is not null
                then {{ lpa_person_id('user', 'edges.identifier_b') }}
            else {{ lpa_person_id('dify_end_user', 'end_users.end_user_id') }}
        end as person_id,
        cast(null as timestamp) as valid_from,
        cast(null as timestamp) as valid_to

    from end_users

    left join edges
        on
            edges.evidence = 'dify_end_user'
            and end_users.end_user_id = edges.identifier_a

),

unioned as (

    select * from users
    union all
    select * from owned_devices
    union all
    select * from anonymous_devices
    union all
    select * from amplitude_ids
    union all
    select * from anonymous_amplitude_ids
    union all
    select * from dify_end_users

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'identifier_type', "'|'", 'identifier', "'|'",
            "coalesce(" ~ dbt.cast('valid_from', dbt.type_string()) ~ ", '')"
        ])) }} as identity_map_id,
        identifier_type,
        identifier,
        person_id,
        valid_from,
        valid_to

    from unioned

)

select * from final
