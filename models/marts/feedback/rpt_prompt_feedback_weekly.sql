{#- Weekly end-user feedback per Dify app and prompt version: volume, likes, dislikes,
    low-rated messages, errors, latency, tokens and cost, the version's dislike-rate rank
    among the app's versions that week and its change since the previous week. A message
    counts in the week of its own `message_date` (weeks start on Monday), whenever it was
    rated. Only the end user's feedback counts: admin ratings are console reviews. Definitions
    in the model's description. -#}
with

messages as (

    select * from {{ ref('fct_llm_messages') }}

),

scored_messages as (

    -- Dify feedback is like/dislike only, so there is no 1–5 score yet: user_score is null
    -- and a low-rated message is a disliked one. A future 1–5 score column replaces the null
    -- here; rated and low-rated below already count it.
    select
        app_id,
        coalesce(prompt_version_id, '(none)') as prompt_version_id,
        {{ lpa_week_start('message_date') }} as week_start,
        user_rating,
        cast(null as integer) as user_score,
        is_error,
        is_answered,
        latency_ms,
        total_tokens,
        cost

    from messages

),

flagged_messages as (

    select
        app_id,
        prompt_version_id,
        week_start,
        is_error,
        case when is_answered then latency_ms end as answered_latency_ms,
        total_tokens,
        cost,
        case when user_rating is not null or user_score is not null then 1 else 0 end
            as is_rated,
        case when user_rating = 1 then 1 else 0 end as is_liked,
        case when user_rating = -1 then 1 else 0 end as is_disliked,
        case when user_rating = -1 or user_score between 1 and 2 then 1 else 0 end
            as is_low_rated

    from scored_messages

),

weekly_feedback as (

    select
        app_id,
        prompt_version_id,
        week_start,
        count(*) as messages,
        sum(is_rated) as rated_messages,
        sum(is_liked) as likes,
        sum(is_disliked) as dislikes,
        sum(is_low_rated) as low_rated_messages,
        sum(case when is_error then 1 else 0 end) as error_messages,
        {{ lpa_percentile('answered_latency_ms', 0.5) }} as latency_p50_ms,
        {{ lpa_percentile('answered_latency_ms', 0.95) }} as latency_p95_ms,
        sum(total_tokens) as total_tokens,
        sum(cost) as cost

    from flagged_messages

    group by 1, 2, 3

),

weekly_rates as (

    select
        app_id,
        prompt_version_id,
        week_start,
        messages,
        rated_messages,
        likes,
        dislikes,
        low_rated_messages,
        error_messages,
        latency_p50_ms,
        latency_p95_ms,
        total_tokens,
        cost,
        cast(dislikes as double precision)
        / cast(nullif(rated_messages, 0) as double precision) as dislike_rate,
        cast(error_messages as double precision)
        / cast(nullif(messages, 0) as double precision) as error_rate

    from weekly_feedback

),

compared as (

    -- (app_id, prompt_version_id, week_start) is unique here, so week_start orders a
    -- version's weeks completely. The rank's last key, prompt_version_id, is a uuid (same
    -- order in every collation); the '(none)' bucket is put last explicitly because '(' sorts
    -- differently under PostgreSQL locale collations and DuckDB's byte order.
    select
        *,
        row_number() over (
            partition by app_id, week_start
            order by
                dislike_rate desc nulls last,
                case when prompt_version_id = '(none)' then 1 else 0 end asc nulls last,
                prompt_version_id asc nulls last
        ) as dislike_rate_rank_in_week,
        lag(week_start) over (
            partition by app_id, prompt_version_id order by week_start asc nulls last
        ) as previous_week_start,
        lag(dislike_rate) over (
            partition by app_id, prompt_version_id order by week_start asc nulls last
        ) as previous_dislike_rate

    from weekly_rates

),

final as (

    select
        ---------- ids
        cast(app_id as {{ dbt.type_string() }}) as app_id,
        cast(prompt_version_id as {{ dbt.type_string() }}) as prompt_version_id,

        ---------- numerics
        cast(messages as bigint) as messages,
        cast(rated_messages as bigint) as rated_messages,
        cast(likes as bigint) as likes,
        cast(dislikes as bigint) as dislikes,
        cast(dislike_rate as double precision) as dislike_rate,
        cast(low_rated_messages as bigint) as low_rated_messages,
        cast(error_messages as bigint) as error_messages,
        cast(error_rate as double precision) as error_rate,
        cast(latency_p50_ms as double precision) as latency_p50_ms,
        cast(latency_p95_ms as double precision) as latency_p95_ms,
        cast(coalesce(total_tokens, 0) as bigint) as total_tokens,
        cast(coalesce(cost, 0) as numeric(20, 10)) as cost,
        cast(dislike_rate_rank_in_week as integer) as dislike_rate_rank_in_week,
        cast(
            case
                when previous_week_start = {{ lpa_add_days('week_start', -7) }}
                    then dislike_rate - previous_dislike_rate
            end as double precision
        ) as dislike_rate_change_vs_previous_week,

        ---------- dates
        week_start

    from compared

)

select * from final
