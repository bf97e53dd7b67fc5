{#- Who a device belongs to, when. Every Amplitude event carrying both a device_id and a
    user_id is an observation; consecutive observations of one user form a login run. An
    anonymous event belongs to the user of the next run on its device (the person about to
    log in claims the anonymous use that led to the login), or to the last user when no login
    follows:
    - anonymous use before the first login belongs to the first user (retroactive);
    - on a device shared by A then B, anonymous use after A's last event belongs to B, and
      after B's first event it stays B's until another user logs in (a returning A claims
      the anonymous use just before A's new login).
    Intervals are half-open [valid_from, valid_to); null means unbounded. A device never links
    two users to each other.
    Incremental by device: a device's runs depend on its own observations only, so a batch
    recomputes the devices it (re)staged Amplitude rows of. -#}
-- depends_on: {{ ref('base_amplitude__events') }}
{{ config(**lpa_incremental_config("lpa_in_restaged_devices('device_id')")) }}
with

events as (

    select * from {{ ref('stg_amplitude__events') }}

),

identifies as (

    select * from {{ ref('stg_amplitude__identifies') }}

),

observations as (

    select
        device_id,
        user_id,
        event_at,
        amplitude_event_id
    from events
    where device_id is not null and user_id is not null
    union all
    select
        device_id,
        user_id,
        event_at,
        amplitude_event_id
    from identifies
    where device_id is not null and user_id is not null

),

switches as (

    select
        *,
        case
            when
                lag(user_id) over (
                    partition by device_id
                    order by event_at asc, user_id asc, amplitude_event_id asc
                ) = user_id
                then 0
            else 1
        end as is_new_run

    from observations

    where {{ lpa_in_restaged_devices('device_id') }}

),

numbered as (

    select
        *,
        sum(is_new_run) over (
            partition by device_id
            order by event_at asc, user_id asc, amplitude_event_id asc
            rows between unbounded preceding and current row
        ) as run_number

    from switches

),

runs as (

    select
        device_id,
        run_number,
        min(user_id) as user_id,
        min(event_at) as first_observed_at,
        max(event_at) as last_observed_at

    from numbered

    group by 1, 2

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'device_id', "'|'", dbt.cast('run_number', dbt.type_string())
        ])) }} as device_owner_id,
        device_id,
        user_id,
        run_number,
        first_observed_at,
        last_observed_at,
        lag(last_observed_at) over (partition by device_id order by run_number asc)
            as valid_from,
        case
            when lead(run_number) over (partition by device_id order by run_number asc) is not null
                then last_observed_at
        end as valid_to

    from runs

)

select * from final
