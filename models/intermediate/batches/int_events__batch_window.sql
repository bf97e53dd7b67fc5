{#- The window an incremental build rebuilds (one row; none on a full build): from the last
    event date fct_events holds minus var lookback_days, or from the earliest event date among
    the Amplitude rows staged since the last finished build when late data reaches further
    back, so nothing that arrived late is skipped. Dify rows (re)staged since then count with
    their created_at, which no event of theirs precedes (a flipped feedback's old event is
    dated at its earlier updated_at). -#}
-- depends_on: {{ ref('stg_amplitude__events') }}, {{ ref('base_dify__messages') }}
-- depends_on: {{ ref('base_dify__message_feedbacks') }}, {{ ref('base_dify__workflow_runs') }}
{{ config(tags=['lpa_batch_scope']) }}

with

{% if lpa_is_batch_build() %}

    amplitude_events as (

        select * from {{ ref('stg_amplitude__events') }}

    ),

    dify_rows as (

        -- The valid rows of the Dify tables events are made of (conversations and end users
        -- add attributes; a row still quarantined, re-checked on every build, makes none).
        {%- for table in ['messages', 'message_feedbacks', 'workflow_runs'] %}
            select created_at from {{ ref('base_dify__' ~ table) }}
            where staged_at > {{ lpa_last_build_at() }} and rejection_reason is null
            {%- if not loop.last %}
                union all
            {%- endif %}
        {%- endfor %}

    ),

    prior_events as (

        -- fct_events as the last build left it.
        select event_date from {{ lpa_prior_relation('fct_events') }}

    ),

    bounds as (

        select
            {{ lpa_add_days('max(event_date)', -var('lookback_days')) }} as lookback_start,
            (
                select min({{ lpa_reporting_date('amplitude_events.event_at') }})
                from amplitude_events
                where amplitude_events.staged_at > {{ lpa_last_build_at() }}
            ) as late_amplitude_start,
            (
                select min({{ lpa_reporting_date('dify_rows.created_at') }})
                from dify_rows
            ) as late_dify_start

        from prior_events

    ),

    final as (

        -- least() skips nulls on both adapters: the earliest of the starts that exist.
        select
            least(lookback_start, late_amplitude_start, late_dify_start) as cutoff_date,
            lookback_start,
            least(late_amplitude_start, late_dify_start) as late_data_start,
            {{ lpa_last_build_at() }} as last_build_at

        from bounds

    )

{% else %}

    final as (

        select
            cast(null as date) as cutoff_date,
            cast(null as date) as lookback_start,
            cast(null as date) as late_data_start,
            cast(null as timestamp) as last_build_at

        where false

    )

{% endif %}

select * from final
