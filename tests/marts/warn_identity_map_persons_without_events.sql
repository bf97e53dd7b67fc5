{{ config(severity='warn') }}
{#- Warns on dim_identity_map rows whose person is not in dim_persons (has no event in
    fct_events). Expected for Dify end users whose events are all out of scope (console
    traffic) and for users seen only in identify calls. The relationships test on dim_identity_map.person_id covers user_id and
    amplitude_id rows only, so this keeps the rest visible. -#}
with

identity_map as (

    select * from {{ ref('dim_identity_map') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

final as (

    select identity_map.*

    from identity_map

    left join persons
        on identity_map.person_id = persons.person_id

    where persons.person_id is null

)

select * from final
