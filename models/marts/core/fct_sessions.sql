{#- One row per session (see fct_events.session_key): an Amplitude session (device and
    session_id), a Dify conversation, or a run of out-of-session events without a gap longer
    than var session_inactivity_minutes. Duration is last event minus first event.
    Incremental: a batch recomputes the sessions its changed events belong or belonged to. -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_by('session_key')) }}

with

events as (

    select * from {{ ref('fct_events') }}
    where {{ lpa_in_batch('session_key') }}

),

first_events as (

    select
        session_key,
        person_id,
        source,
        platform,
        app_id,
        conversation_id,
        session_type,
        row_number() over (
            partition by session_key order by event_at asc, event_id asc
        ) as event_rank

    from events

),

per_session as (

    select
        session_key,
        count(*) as event_count,
        count(distinct person_id) as person_count,
        cast(sum(case when event_name = 'query_submitted' then 1 else 0 end) as bigint)
            as query_count,
        min(event_at) as started_at,
        max(event_at) as ended_at

    from events

    group by 1

),

final as (

    select
        per_session.session_key,
        first_events.person_id,
        first_events.app_id,
        first_events.conversation_id,
        first_events.session_type,
        first_events.source as first_event_source,
        first_events.platform,
        per_session.event_count,
        per_session.query_count,
        per_session.person_count,
        cast(
            {{ dbt.datediff('per_session.started_at', 'per_session.ended_at', 'second') }}
            as bigint
        ) as duration_seconds,
        per_session.started_at,
        per_session.ended_at,
        {{ lpa_reporting_date('per_session.started_at') }} as session_date

    from per_session

    inner join first_events
        on
            per_session.session_key = first_events.session_key
            and first_events.event_rank = 1

)

select * from final
