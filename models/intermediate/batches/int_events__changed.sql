{#- The events an incremental build rewrites in fct_events, with their previous person and
    session (empty on a full build). A batch covers:
    - every event int_events__unioned wrote in this batch (new, or different from the row
      it replaced: staged_at after the last finished build), and every event it no longer
      makes (in fct_events, on or after the cutoff minus a day, gone from the union);
    - every anonymous event whose person changed: a late login or merge re-attributes it
      (only those identities are touched);
    - the out-of-session events of the persons above whose inactivity sessions can change:
      all of them for the persons a late login or merge touched; for the others, from the
      earliest of their sessions that reaches within 2 days plus the inactivity gap of the
      cutoff (their changed events are all after that, so earlier sessions stay as they
      are). -#}
-- depends_on: {{ ref('int_events__unioned') }}, {{ ref('int_events__batch_window') }}
-- depends_on: {{ ref('int_identity__device_owners') }}
-- depends_on: {{ ref('int_identity__amplitude_id_owners') }}
{{ config(tags=['lpa_batch_scope']) }}
{%- set last_build_at = lpa_last_build_at() -%}
{#- Earliest event_at int_events__unioned's batch scope reaches (lpa_on_or_after_cutoff(1)). -#}
{%- set scope_start = dbt.cast(lpa_add_days(lpa_batch_cutoff(), -2), dbt.type_timestamp()) -%}
{#- Earliest time an inactivity session of a person without a late login can change. -#}
{%- set loose_bound = dbt.dateadd(
    'second', -(2 * 86400 + var('session_inactivity_minutes') * 60),
    dbt.cast(lpa_batch_cutoff(), dbt.type_timestamp())) -%}

with

{% if lpa_is_batch_build() %}

    cutoff as (

        select cutoff_date from {{ ref('int_events__batch_window') }}

    ),

    events as (

        -- Only events whose person can have changed: those the batch wrote and anonymous
        -- ones (a late login). Any other identified event keeps its person.
        select
            *,
            staged_at > {{ last_build_at }} as is_restaged
        from {{ ref('int_events__unioned') }}
        where
            user_id is null
            or ({{ lpa_on_or_after_cutoff(1) }} and staged_at > {{ last_build_at }})

    ),

    device_owners as (

        select * from {{ ref('int_identity__device_owners') }}

    ),

    amplitude_id_owners as (

        select * from {{ ref('int_identity__amplitude_id_owners') }}

    ),

    prior_events as not materialized (

        -- fct_events as the last build left it (this model runs before fct_events). Each
        -- use below filters it on its own, so no consumer scans every column of it.
        select
            event_id,
            person_id,
            session_key,
            session_type,
            user_id,
            device_id,
            amplitude_id,
            message_id,
            event_at,
            event_date
        from {{ lpa_prior_relation('fct_events') }}

    ),

    resolved as (

        {{ lpa_resolved_person_select('events', 'device_owners', 'amplitude_id_owners') }}
        where {{ lpa_event_in_scope('in_scope.is_internal_traffic') }}

    ),

    current_events as (

        select
            event_id,
            person_id,
            message_id,
            {{ lpa_is_loose_event() }} as is_loose,
            user_id is null as is_anonymous,
            is_restaged,
            event_at
        from resolved

    ),

    restaged_events as (

        -- Written by this batch, with its person now and before (an event now left out as
        -- internal traffic has only the latter).
        select
            event_id,
            person_id
        from current_events
        where is_restaged
        union all
        select
            event_id,
            person_id
        from prior_events
        where event_id in (
            select events.event_id from events
            where events.is_restaged
        )

    ),

    gone_events as (

        -- In fct_events but no longer in the union: only int_events__unioned's batch scope
        -- can lose an event, and whatever it writes lies in that span too.
        select
            prior_events.event_id,
            prior_events.person_id
        from prior_events
        where
            {{ lpa_on_or_after_cutoff(1) }}
            and not exists (
                select 1 from {{ ref('int_events__unioned') }} as unioned
                where
                    unioned.event_id = prior_events.event_id
                    and unioned.event_at >= {{ scope_start }}
            )

    ),

    reattributed as (

        select
            current_events.event_id,
            current_events.person_id,
            prior_events.person_id as prior_person_id
        from current_events
        inner join prior_events
            on current_events.event_id = prior_events.event_id
        where
            current_events.is_anonymous
            and prior_events.user_id is null
            and current_events.person_id != prior_events.person_id

    ),

    seeds as (

        select
            event_id,
            person_id
        from restaged_events
        union all
        select
            event_id,
            person_id
        from gone_events
        union all
        select
            event_id,
            person_id
        from reattributed
        union all
        select
            event_id,
            prior_person_id as person_id
        from reattributed

    ),

    seed_persons as (

        select distinct person_id from seeds

    ),

    open_sessions as (

        -- Prior inactivity sessions of seed persons that end within reach of the changes.
        select
            person_id,
            min(event_at) as session_started_at
        from prior_events
        where
            session_type = 'inactivity'
            and person_id in (select seed_persons.person_id from seed_persons)
        group by person_id, session_key
        having max(event_at) >= {{ loose_bound }}

    ),

    moved_persons as (

        -- Persons a late login or merge moved events to or from, wherever those lie.
        select person_id from reattributed
        union
        select prior_person_id as person_id from reattributed

    ),

    loose_scope as (

        -- Per seed person, where its inactivity sessions are recomputed from (null: its
        -- whole history, for moved persons). least() skips nulls on both adapters.
        select
            seed_persons.person_id,
            case
                when moved_persons.person_id is null
                    then least({{ loose_bound }}, min(open_sessions.session_started_at))
            end as loose_from
        from seed_persons
        left join moved_persons
            on seed_persons.person_id = moved_persons.person_id
        left join open_sessions
            on seed_persons.person_id = open_sessions.person_id
        group by seed_persons.person_id, moved_persons.person_id

    ),

    loose_events as (

        select current_events.event_id from current_events
        inner join loose_scope
            on current_events.person_id = loose_scope.person_id
        where
            current_events.is_loose
            and (loose_scope.loose_from is null or current_events.event_at >= loose_scope.loose_from)
        union all
        select prior_events.event_id from prior_events
        inner join loose_scope
            on prior_events.person_id = loose_scope.person_id
        where
            prior_events.session_type = 'inactivity'
            and (loose_scope.loose_from is null or prior_events.event_at >= loose_scope.loose_from)

    ),

    changed as (

        select event_id from seeds
        union
        select event_id from loose_events

    ),

    final as (

        select
            changed.event_id,
            prior_rows.person_id as prior_person_id,
            prior_rows.session_key as prior_session_key,
            prior_rows.user_id as prior_user_id,
            prior_rows.device_id as prior_device_id,
            prior_rows.amplitude_id as prior_amplitude_id,
            prior_rows.message_id as prior_message_id,
            prior_rows.event_date as prior_event_date,
            case
                when prior_rows.event_id is not null then {{ lpa_event_row_hash('prior_rows') }}
            end as prior_row_hash,
            (select cutoff.cutoff_date from cutoff) as cutoff_date

        from changed

        -- The whole prior row, for its fingerprint.
        left join {{ lpa_prior_relation('fct_events') }} as prior_rows
            on changed.event_id = prior_rows.event_id

    )

{% else %}

    final as (

        -- A full build rewrites everything; there is no batch.
        select
            cast(null as {{ dbt.type_string() }}) as event_id,
            cast(null as {{ dbt.type_string() }}) as prior_person_id,
            cast(null as {{ dbt.type_string() }}) as prior_session_key,
            cast(null as {{ dbt.type_string() }}) as prior_user_id,
            cast(null as {{ dbt.type_string() }}) as prior_device_id,
            cast(null as bigint) as prior_amplitude_id,
            cast(null as {{ dbt.type_string() }}) as prior_message_id,
            cast(null as date) as prior_event_date,
            cast(null as {{ dbt.type_string() }}) as prior_row_hash,
            cast(null as date) as cutoff_date

        where false

    )

{% endif %}

select * from final
