{#- One row per experiment and exposed person: the variant, the first exposure (the anchor of
    every metric window) and whether the person is analysed. A person exposed to more than
    one variant, or to a variant the experiment does not configure, is kept here with the
    reason and left out of the analysis (never silently dropped). -#}
with

exposures as (

    select * from {{ ref('int_experiment__exposures') }}

),

variants as (

    select * from {{ ref('dim_experiment_variants') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by experiment_id, person_id
            order by exposed_at asc, event_id asc
        ) as exposure_rank,
        row_number() over (
            partition by experiment_id, person_id
            order by exposed_at desc, event_id desc
        ) as reverse_exposure_rank

    from exposures

),

per_person as (

    select
        experiment_id,
        person_id,
        min(exposed_at) as first_exposure_at,
        max(exposed_at) as last_exposure_at,
        count(*) as exposure_count,
        count(distinct variant) as variant_count,
        min(variant) as first_variant_name,
        max(case when exposure_rank = 1 then event_id end) as first_exposure_event_id,
        max(case when reverse_exposure_rank = 1 then device_id end) as last_device_id

    from ranked

    group by 1, 2

),

final as (

    select
        {{ dbt.hash(dbt.concat(['per_person.experiment_id', "'|'", 'per_person.person_id'])) }}
            as assignment_id,
        per_person.experiment_id,
        per_person.person_id,
        persons.primary_user_id as user_id,
        per_person.last_device_id as device_id,
        case when per_person.variant_count = 1 then per_person.first_variant_name end as variant,
        per_person.first_exposure_event_id,
        per_person.first_exposure_at,
        {{ lpa_reporting_date('per_person.first_exposure_at') }} as first_exposure_date,
        per_person.last_exposure_at,
        cast(per_person.exposure_count as bigint) as exposure_count,
        cast(per_person.variant_count as integer) as variant_count,
        per_person.variant_count > 1 as is_multi_variant,
        case
            when per_person.variant_count > 1 then 'multiple_variants'
            when variants.variant is null then 'unknown_variant'
        end as exclusion_reason,
        per_person.variant_count = 1 and variants.variant is not null as is_included

    from per_person

    left join variants
        on
            per_person.experiment_id = variants.experiment_id
            and per_person.first_variant_name = variants.variant
            and per_person.variant_count = 1

    left join persons
        on per_person.person_id = persons.person_id

)

select * from final
