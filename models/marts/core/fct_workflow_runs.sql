{#- One row per finished or running Dify workflow/chatflow run in scope of fct_events
    (debug runs from the console are out of scope unless var include_internal_traffic). -#}
with

runs as (

    select * from {{ ref('stg_dify__workflow_runs') }}

),

app_logs as (

    select * from {{ ref('stg_dify__workflow_app_logs') }}

),

events as (

    select * from {{ ref('fct_events') }}

),

finished as (

    select
        workflow_run_id,
        person_id,
        user_id,
        session_key,
        prompt_version_id

    from events

    where source = 'dify' and workflow_run_id is not null and message_id is null

),

final as (

    select
        ---------- ids
        runs.workflow_run_id,
        finished.person_id,
        finished.user_id,
        runs.app_id,
        runs.workflow_id,
        finished.session_key,
        {{ dbt.concat(['runs.workflow_id', "'@'", 'runs.workflow_version']) }} as prompt_version_id,

        ---------- strings
        runs.workflow_type,
        runs.workflow_version,
        runs.triggered_from,
        app_logs.created_from,
        runs.run_status,
        {{ lpa_pii_redact('runs.error_message') }} as error_message,

        ---------- numerics
        runs.elapsed_seconds * 1000 as latency_ms,
        runs.total_tokens,
        runs.total_steps,
        runs.exceptions_count,

        ---------- booleans
        runs.run_status in ('succeeded', 'partial-succeeded') as is_succeeded,
        runs.finished_at is null as is_in_flight,
        runs.is_internal_traffic,

        ---------- dates and timestamps
        runs.created_at,
        runs.finished_at,
        {{ lpa_reporting_date('runs.created_at') }} as run_date

    from runs

    left join finished
        on runs.workflow_run_id = finished.workflow_run_id

    left join app_logs
        on runs.workflow_run_id = app_logs.workflow_run_id

    {% if not var('include_internal_traffic') -%}
        where not runs.is_internal_traffic
    {%- endif %}

)

select * from final
