{#- Dify's tables turned into events: a message gives `message.created` and, once answered,
    `message.succeeded` or `message.failed`; a finished workflow run gives
    `workflow_run.<status>`; a feedback row gives `message_feedback.<rating>`. The alias map
    names them (query_submitted, response_completed, ...). Tokens, cost and latency sit on the
    response and run events only, so summing them over events never double counts. -#}
{%- set person_key = 'end_user_session_id' if var('dify_person_key') == 'session_id'
    else 'external_user_id' -%}
{#- Incremental: a batch rewrites the events dated from the cutoff minus a day (all that
    int_events__unioned reads of this model), made from the Dify rows that can give them. -#}
-- depends_on: {{ ref('int_events__batch_window') }}
{{ config(**lpa_incremental_config('lpa_dify_event_in_batch()')) }}

with

feedbacks as (

    select * from {{ ref('stg_dify__message_feedbacks') }}
    where {{ lpa_dify_row_in_batch(['updated_at']) }}

),

messages as (

    -- With the messages rated in the batch: their feedback events carry the prompt version.
    select * from {{ ref('stg_dify__messages') }}
    where {{ lpa_dify_row_in_batch(
        ['created_at', 'updated_at'],
        or_also='message_id in (select feedbacks.message_id from feedbacks)') }}

),

conversations as (

    select * from {{ ref('stg_dify__conversations') }}

),

end_users as (

    select * from {{ ref('stg_dify__end_users') }}

),

workflow_runs as (

    select * from {{ ref('stg_dify__workflow_runs') }}

),

end_user_keys as (

    -- The Amplitude user_id a Dify end user stands for, when it stands for one: browser
    -- visitors, anonymous callers and shared ids such as DEFAULT-USER are nobody's user_id.
    select
        end_user_id,
        case
            when
                end_user_type != 'browser'
                and not coalesce(is_anonymous, false)
                and {{ person_key }} not in ({{ lpa_sql_list(var('dify_shared_session_ids')) }})
                then {{ lpa_nullif_blank(person_key) }}
        end as user_id

    from end_users

),

message_facts as (

    select
        messages.message_id,
        messages.conversation_id,
        messages.app_id,
        messages.workflow_run_id,
        messages.from_end_user_id as dify_end_user_id,
        messages.from_account_id as dify_account_id,
        end_user_keys.user_id,
        coalesce(
            conversations.app_model_config_id,
            {{ dbt.concat(['workflow_runs.workflow_id', "'@'", 'workflow_runs.workflow_version']) }}
        ) as prompt_version_id,
        coalesce(messages.model_provider, conversations.model_provider) as model_provider,
        coalesce(messages.model_name, conversations.model_name) as model_name,
        messages.message_tokens,
        messages.answer_tokens,
        messages.provider_response_latency_seconds,
        messages.total_price,
        messages.currency,
        messages.message_status,
        messages.error_message,
        messages.answer,
        messages.is_internal_traffic,
        messages.created_at,
        messages.updated_at

    from messages

    left join conversations
        on messages.conversation_id = conversations.conversation_id

    left join workflow_runs
        on messages.workflow_run_id = workflow_runs.workflow_run_id

    left join end_user_keys
        on messages.from_end_user_id = end_user_keys.end_user_id

),

message_created as (

    select
        'message.created' as raw_event_name,
        message_id as natural_id,
        created_at as event_at,
        message_id,
        conversation_id,
        app_id,
        cast(null as {{ dbt.type_string() }}) as workflow_run_id,
        dify_end_user_id,
        dify_account_id,
        user_id,
        prompt_version_id,
        model_provider,
        model_name,
        cast(null as bigint) as input_tokens,
        cast(null as bigint) as output_tokens,
        cast(null as bigint) as total_tokens,
        cast(null as double precision) as latency_ms,
        cast(null as decimal(20, 10)) as cost,
        cast(null as {{ dbt.type_string() }}) as currency,
        message_status as status,
        cast(null as {{ dbt.type_string() }}) as error,
        cast(null as integer) as rating,
        is_internal_traffic

    from message_facts

),

message_answered as (

    select
        case
            when message_status = 'error' then 'message.failed' else 'message.succeeded'
        end as raw_event_name,
        message_id as natural_id,
        updated_at as event_at,
        message_id,
        conversation_id,
        app_id,
        workflow_run_id,
        dify_end_user_id,
        dify_account_id,
        user_id,
        prompt_version_id,
        model_provider,
        model_name,
        message_tokens as input_tokens,
        answer_tokens as output_tokens,
        coalesce(message_tokens, 0) + coalesce(answer_tokens, 0) as total_tokens,
        provider_response_latency_seconds * 1000 as latency_ms,
        total_price as cost,
        currency,
        message_status as status,
        error_message as error,
        cast(null as integer) as rating,
        is_internal_traffic

    from message_facts

    -- A row still generating (normal, empty answer, no tokens) has not answered yet.
    where
        message_status = 'error'
        or (message_status = 'normal' and (answer != '' or answer_tokens > 0))

),

run_finished as (

    select
        {{ dbt.concat(["'workflow_run.'", 'workflow_runs.run_status']) }} as raw_event_name,
        workflow_runs.workflow_run_id as natural_id,
        coalesce(workflow_runs.finished_at, workflow_runs.created_at) as event_at,
        cast(null as {{ dbt.type_string() }}) as message_id,
        cast(null as {{ dbt.type_string() }}) as conversation_id,
        workflow_runs.app_id,
        workflow_runs.workflow_run_id,
        case
            when workflow_runs.created_by_role = 'end_user' then workflow_runs.created_by_id
        end as dify_end_user_id,
        case
            when workflow_runs.created_by_role = 'account' then workflow_runs.created_by_id
        end as dify_account_id,
        end_user_keys.user_id,
        {{ dbt.concat(['workflow_runs.workflow_id', "'@'", 'workflow_runs.workflow_version']) }}
            as prompt_version_id,
        cast(null as {{ dbt.type_string() }}) as model_provider,
        cast(null as {{ dbt.type_string() }}) as model_name,
        cast(null as bigint) as input_tokens,
        cast(null as bigint) as output_tokens,
        -- A chatflow run (type chat) answers one message; its tokens are the message's.
        case when workflow_runs.workflow_type != 'chat' then workflow_runs.total_tokens end
            as total_tokens,
        workflow_runs.elapsed_seconds * 1000 as latency_ms,
        cast(null as decimal(20, 10)) as cost,
        cast(null as {{ dbt.type_string() }}) as currency,
        workflow_runs.run_status as status,
        workflow_runs.error_message as error,
        cast(null as integer) as rating,
        workflow_runs.is_internal_traffic

    from workflow_runs

    left join end_user_keys
        on
            workflow_runs.created_by_role = 'end_user'
            and workflow_runs.created_by_id = end_user_keys.end_user_id

    where
        workflow_runs.run_status in ('succeeded', 'partial-succeeded', 'failed', 'stopped')
        and {{ lpa_dify_row_in_batch(['workflow_runs.finished_at', 'workflow_runs.created_at']) }}

),

feedback_given as (

    select
        {{ dbt.concat(["'message_feedback.'", 'feedbacks.rating']) }} as raw_event_name,
        feedbacks.message_feedback_id as natural_id,
        feedbacks.updated_at as event_at,
        feedbacks.message_id,
        feedbacks.conversation_id,
        feedbacks.app_id,
        cast(null as {{ dbt.type_string() }}) as workflow_run_id,
        feedbacks.from_end_user_id as dify_end_user_id,
        feedbacks.from_account_id as dify_account_id,
        end_user_keys.user_id,
        message_facts.prompt_version_id,
        message_facts.model_provider,
        message_facts.model_name,
        cast(null as bigint) as input_tokens,
        cast(null as bigint) as output_tokens,
        cast(null as bigint) as total_tokens,
        cast(null as double precision) as latency_ms,
        cast(null as decimal(20, 10)) as cost,
        cast(null as {{ dbt.type_string() }}) as currency,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as error,
        case when feedbacks.rating = 'like' then 1 when feedbacks.rating = 'dislike' then -1 end
            as rating,
        -- Admin ratings in the console are reviews, not product use.
        feedbacks.from_source = 'admin' as is_internal_traffic

    from feedbacks

    left join message_facts
        on feedbacks.message_id = message_facts.message_id

    left join end_user_keys
        on feedbacks.from_end_user_id = end_user_keys.end_user_id

),

unioned as (

    select * from message_created
    union all
    select * from message_answered
    union all
    select * from run_finished
    union all
    select * from feedback_given

),

final as (

    select
        {{ dbt.hash(dbt.concat(["'dify|'", 'raw_event_name', "'|'", 'natural_id'])) }} as event_id,
        'dify' as source,
        *

    from unioned

    where {{ lpa_dify_event_in_batch() }}

)

select * from final
{{ lpa_storage_order('event_at') }}
