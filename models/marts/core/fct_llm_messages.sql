{#- One row per Dify message (one user turn) in scope of fct_events: who asked, which app,
    prompt version and model answered, tokens, latency, cost, outcome and the feedback it got.
    Feedback is Dify's current state (a re-rating replaces the earlier one). -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_by('message_id')) }}
with

messages as (

    select * from {{ ref('stg_dify__messages') }}
    where {{ lpa_in_batch('message_id') }}

),

feedbacks as (

    select * from {{ ref('stg_dify__message_feedbacks') }}
    where {{ lpa_in_batch('message_id') }}

),

events as (

    select * from {{ ref('fct_events') }}
    where {{ lpa_in_batch('message_id') }}

),

asked as (

    select
        message_id,
        person_id,
        user_id,
        prompt_version_id,
        session_key

    from events

    where source = 'dify' and event_name = 'query_submitted'

),

ratings as (

    select
        message_id,
        max(case
            when from_source = 'user' and rating = 'like' then 1
            when from_source = 'user' and rating = 'dislike' then -1
        end) as user_rating,
        max(case
            when from_source = 'admin' and rating = 'like' then 1
            when from_source = 'admin' and rating = 'dislike' then -1
        end) as admin_rating,
        max(case when from_source = 'user' then feedback_content end) as user_feedback_content

    from feedbacks

    group by 1

),

final as (

    select
        ---------- ids
        messages.message_id,
        asked.person_id,
        asked.user_id,
        messages.app_id,
        messages.conversation_id,
        asked.session_key,
        asked.prompt_version_id,
        messages.workflow_run_id,

        ---------- strings
        messages.model_provider,
        messages.model_name,
        messages.message_status,
        {{ lpa_pii_redact('messages.error_message') }} as error_message,
        messages.currency,
        messages.invoke_from,

        ---------- numerics
        messages.message_tokens as input_tokens,
        messages.answer_tokens as output_tokens,
        coalesce(messages.message_tokens, 0) + coalesce(messages.answer_tokens, 0)
            as total_tokens,
        messages.provider_response_latency_seconds * 1000 as latency_ms,
        messages.total_price as cost,
        ratings.user_rating,
        ratings.admin_rating,

        ---------- booleans
        messages.message_status = 'error' as is_error,
        (
            messages.message_status = 'normal'
            and (messages.answer != '' or messages.answer_tokens > 0)
        )
            as is_answered,
        ratings.user_rating = -1 as is_disliked,

        ---------- dates and timestamps
        messages.created_at,
        messages.updated_at as answered_at,
        {{ lpa_reporting_date('messages.created_at') }} as message_date

    from messages

    inner join asked
        on messages.message_id = asked.message_id

    left join ratings
        on messages.message_id = ratings.message_id

)

select * from final
