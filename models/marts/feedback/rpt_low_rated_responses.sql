{#- Review queue: one row per low-rated message (same rule as rpt_prompt_feedback_weekly),
    with what a reviewer needs to triage it and a review_priority (rule in the model's
    description). The user's query and the answer are personal data: query_text and
    answer_text are always in the table (a stable contract) but stay null unless var
    review_queue_include_text (or keep_pii) is true; even then emails and IP addresses in
    them are masked unless keep_pii (docs block pii_policy). -#}
{%- set include_text = var('review_queue_include_text', false) or lpa_keep_pii() -%}

with

messages as (

    select * from {{ ref('fct_llm_messages') }}

),

staged_messages as (

    select * from {{ ref('stg_dify__messages') }}

),

feedbacks as (

    select * from {{ ref('stg_dify__message_feedbacks') }}

),

scored_messages as (

    -- Same rule as rpt_prompt_feedback_weekly: Dify has like/dislike only, so user_score is
    -- null and a low-rated message is a disliked one until a 1–5 score column replaces it.
    select
        message_id,
        person_id,
        app_id,
        conversation_id,
        coalesce(prompt_version_id, '(none)') as prompt_version_id,
        model_name,
        user_rating,
        cast(null as integer) as user_score,
        admin_rating,
        latency_ms,
        total_tokens,
        is_error,
        is_answered,
        created_at

    from messages

),

low_rated_messages as (

    select
        message_id,
        person_id,
        app_id,
        conversation_id,
        prompt_version_id,
        model_name,
        user_rating,
        admin_rating,
        latency_ms,
        total_tokens,
        is_error,
        is_answered,
        created_at,
        count(*) over (partition by conversation_id) as low_rated_in_conversation

    from scored_messages

    where user_rating = -1 or user_score between 1 and 2

),

message_texts as (

    -- Personal data: the text only leaves staging when var review_queue_include_text is true.
    select
        message_id,
        {% if include_text -%}
            {{ lpa_pii_redact('query') }} as query_text,
            {{ lpa_pii_redact('answer') }} as answer_text
        {%- else -%}
            cast(null as {{ dbt.type_string() }}) as query_text,
            cast(null as {{ dbt.type_string() }}) as answer_text
        {%- endif %}

    from staged_messages

),

user_feedback_times as (

    -- When the end user gave the current rating (a re-rating updates the row).
    select
        message_id,
        max(updated_at) as rated_at

    from feedbacks

    where from_source = 'user'

    group by 1

),

prioritized as (

    select
        low_rated_messages.message_id,
        low_rated_messages.person_id,
        low_rated_messages.app_id,
        low_rated_messages.conversation_id,
        low_rated_messages.prompt_version_id,
        low_rated_messages.model_name,
        low_rated_messages.user_rating,
        low_rated_messages.admin_rating,
        low_rated_messages.latency_ms,
        low_rated_messages.total_tokens,
        low_rated_messages.is_error,
        low_rated_messages.low_rated_in_conversation,
        low_rated_messages.created_at,
        user_feedback_times.rated_at,
        case
            when low_rated_messages.admin_rating is not null then 4
            when
                low_rated_messages.is_error or not low_rated_messages.is_answered
                then 1
            when low_rated_messages.low_rated_in_conversation > 1 then 2
            else 3
        end as review_priority,
        message_texts.query_text,
        message_texts.answer_text

    from low_rated_messages

    left join user_feedback_times
        on low_rated_messages.message_id = user_feedback_times.message_id

    left join message_texts
        on low_rated_messages.message_id = message_texts.message_id

),

final as (

    select
        ---------- ids
        cast(message_id as {{ dbt.type_string() }}) as message_id,
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(app_id as {{ dbt.type_string() }}) as app_id,
        cast(conversation_id as {{ dbt.type_string() }}) as conversation_id,
        cast(prompt_version_id as {{ dbt.type_string() }}) as prompt_version_id,

        ---------- strings
        cast(model_name as {{ dbt.type_string() }}) as model_name,
        cast(query_text as {{ dbt.type_string() }}) as query_text,
        cast(answer_text as {{ dbt.type_string() }}) as answer_text,

        ---------- numerics
        cast(review_priority as integer) as review_priority,
        cast(user_rating as integer) as user_rating,
        cast(admin_rating as integer) as admin_rating,
        cast(low_rated_in_conversation as bigint) as low_rated_in_conversation,
        cast(latency_ms as double precision) as latency_ms,
        cast(total_tokens as bigint) as total_tokens,

        ---------- booleans
        is_error,

        ---------- timestamps
        cast(created_at as timestamp) as created_at,
        cast(rated_at as timestamp) as rated_at

    from prioritized

)

select * from final
