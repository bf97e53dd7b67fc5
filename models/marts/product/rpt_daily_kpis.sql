{#- Daily product and LLM KPIs per reporting date, for all apps together (`app_id = 'all'`)
    and per Dify app, over a date spine from the first to the last event date. Configured by
    vars non_activity_events and kpis; every definition is spelled out in the model's
    description. WAU and MAU are a sweep over the date spine: each active day of a person
    opens a span that lasts until the person's next active day or the end of the window,
    whichever comes first (so a person's spans never overlap), and a running sum of span
    starts minus span ends counts the persons in the window on each date. Linear in the
    number of person-days: no self-join of events or days. -#}
{%- set kpis = lpa_kpis_config() -%}
{#- Incremental: a batch rewrites the dates from its earliest changed event date minus the
    longest look-forward (activation) and look-back (MAU) windows. -#}
-- depends_on: {{ ref('int_events__changed_keys') }}
{{ config(**lpa_incremental_since('report_date', kpis.activation_days + kpis.mau_days)) }}

with

activity as (

    select * from {{ ref('int_persons__daily_activity') }}

),

events as (

    select * from {{ ref('fct_events') }}

),

data_bounds as (

    select
        min(event_date) as first_data_date,
        max(event_date) as last_data_date

    from events

),

day_offsets as (

    {{ lpa_day_offsets() }}

),

date_spine as (

    select
        {{ lpa_add_days('data_bounds.first_data_date', 'day_offsets.day_offset') }}
            as report_date

    from data_bounds

    cross join day_offsets

    where
        day_offsets.day_offset
        <= {{ lpa_days_between('data_bounds.first_data_date', 'data_bounds.last_data_date') }}

),

app_scopes as (

    select 'all' as app_id

    union all

    select distinct app_id

    from events

    where app_id is not null

),

scoped_spine as (

    select
        app_scopes.app_id,
        date_spine.report_date

    from app_scopes

    cross join date_spine

),

scoped_activity as (

    -- Scope 'all': every active date of a person. An app's scope: the dates on which the
    -- person has an activity event of that app.
    select
        'all' as app_id,
        person_id,
        activity_date

    from activity

    union all

    select distinct
        app_id,
        person_id,
        event_date as activity_date

    from events

    where app_id is not null and {{ lpa_is_activity_event('event_name') }}

),

activity_spans as (

    -- (app_id, person_id, activity_date) is unique here, so activity_date orders each
    -- person's days completely and needs no tie-breaker.
    select
        app_id,
        activity_date,
        lead(activity_date) over (
            partition by app_id, person_id order by activity_date asc nulls last
        ) as next_active_date

    from scoped_activity

),

span_edges as (

    -- +1 where a span opens, -1 the day after it closes; WAU spans last at most 7 days, MAU
    -- spans at most var kpis.mau_days ({{ kpis.mau_days }}).
    select
        app_id,
        activity_date as edge_date,
        1 as wau_change,
        1 as mau_change

    from activity_spans

    union all

    select
        app_id,
        case
            when next_active_date < {{ lpa_add_days('activity_date', 7) }}
                then next_active_date
            else {{ lpa_add_days('activity_date', 7) }}
        end as edge_date,
        -1 as wau_change,
        0 as mau_change

    from activity_spans

    union all

    select
        app_id,
        case
            when next_active_date < {{ lpa_add_days('activity_date', kpis.mau_days) }}
                then next_active_date
            else {{ lpa_add_days('activity_date', kpis.mau_days) }}
        end as edge_date,
        0 as wau_change,
        -1 as mau_change

    from activity_spans

),

edge_sums as (

    select
        app_id,
        edge_date,
        sum(wau_change) as wau_change,
        sum(mau_change) as mau_change

    from span_edges

    group by 1, 2

),

daily_active as (

    select
        app_id,
        activity_date as report_date,
        count(*) as dau

    from scoped_activity

    group by 1, 2

),

windowed_active as (

    -- (app_id, report_date) is unique on the spine, so report_date needs no tie-breaker.
    select
        scoped_spine.app_id,
        scoped_spine.report_date,
        sum(coalesce(edge_sums.wau_change, 0)) over (
            partition by scoped_spine.app_id
            order by scoped_spine.report_date asc nulls last
            rows between unbounded preceding and current row
        ) as wau,
        sum(coalesce(edge_sums.mau_change, 0)) over (
            partition by scoped_spine.app_id
            order by scoped_spine.report_date asc nulls last
            rows between unbounded preceding and current row
        ) as mau

    from scoped_spine

    left join edge_sums
        on
            scoped_spine.app_id = edge_sums.app_id
            and scoped_spine.report_date = edge_sums.edge_date

),

first_days as (

    select
        person_id,
        first_active_date

    from activity

    where is_first_active_date

),

person_conversions as (

    -- Per new person: a sign-up event on the first active date; an activation event on one
    -- of the first var kpis.activation_days ({{ kpis.activation_days }}) dates from it.
    select
        first_days.person_id,
        first_days.first_active_date,
        max(
            case
                when
                    events.event_name = {{ lpa_sql_list([kpis.signup_event]) }}
                    and events.event_date = first_days.first_active_date
                    then 1
                else 0
            end
        ) as is_signed_up,
        max(
            case
                when
                    events.event_name = {{ lpa_sql_list([kpis.activation_event]) }}
                    and events.event_date >= first_days.first_active_date
                    and events.event_date
                    <= {{ lpa_add_days('first_days.first_active_date', kpis.activation_days - 1) }}
                    then 1
                else 0
            end
        ) as is_activated

    from first_days

    left join events
        on
            first_days.person_id = events.person_id
            and events.event_name in (
                {{ lpa_sql_list([kpis.signup_event, kpis.activation_event]) }}
            )

    group by 1, 2

),

daily_new_persons as (

    select
        first_active_date as report_date,
        count(*) as new_persons,
        sum(is_signed_up) as signed_up_new_persons,
        sum(is_activated) as activated_new_persons

    from person_conversions

    group by 1

),

revenue_events as (

    select
        event_date,
        {{ lpa_parse_json_object('properties', {kpis.revenue_property: 'text'}) }}
            as parsed_properties

    from events

    where event_name = {{ lpa_sql_list([kpis.revenue_event]) }}

),

daily_revenue as (

    select
        event_date as report_date,
        sum(
            {{ lpa_to_decimal(lpa_json_text('parsed_properties', kpis.revenue_property)) }}
        ) as revenue

    from revenue_events

    group by 1

),

scopes as (

    -- Each event counts in the 'all' scope and, for a Dify event, in its app's scope.
    select true as is_all_apps
    union all
    select false as is_all_apps

),

scoped_events as (

    -- Every event in scope 'all'; a Dify event also in its app's scope.
    select
        case when scopes.is_all_apps then 'all' else events.app_id end as app_id,
        events.person_id,
        events.event_name,
        events.event_date,
        events.conversation_id,
        events.message_id,
        events.rating,
        events.input_tokens,
        events.output_tokens,
        events.total_tokens,
        events.cost,
        events.latency_ms

    from events

    inner join scopes
        on scopes.is_all_apps or events.app_id is not null

),

daily_event_measures as (

    select
        app_id,
        event_date as report_date,
        sum(
            case when event_name = {{ lpa_sql_list([kpis.impression_event]) }} then 1 else 0 end
        ) as impression_count,
        sum(
            case when event_name = {{ lpa_sql_list([kpis.click_event]) }} then 1 else 0 end
        ) as click_count,
        {% if kpis.share_events | length > 0 -%}
            count(
                distinct case
                    when event_name in ({{ lpa_sql_list(kpis.share_events) }}) then person_id
                end
            ) as sharing_persons,
        {%- else -%}
            0 as sharing_persons,
        {%- endif %}
        sum(case when event_name = 'query_submitted' then 1 else 0 end) as query_count,
        count(
            distinct case when event_name = 'query_submitted' then conversation_id end
        ) as conversation_count,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(total_tokens) as total_tokens,
        sum(cost) as cost,
        {{ lpa_percentile(
            "case when event_name = 'response_completed' then latency_ms end", 0.5
        ) }} as latency_p50_ms,
        {{ lpa_percentile(
            "case when event_name = 'response_completed' then latency_ms end", 0.95
        ) }} as latency_p95_ms,
        sum(
            case when event_name = 'response_completed' then 1 else 0 end
        ) as completed_response_count,
        sum(case when event_name = 'response_failed' then 1 else 0 end) as failed_response_count,
        count(
            distinct case
                when event_name = 'feedback_given' and rating in (1, -1) then message_id
            end
        ) as rated_message_count,
        count(
            distinct case
                when event_name = 'feedback_given' and rating = 1 then message_id
            end
        ) as liked_message_count,
        count(
            distinct case
                when event_name = 'feedback_given' and rating = -1 then message_id
            end
        ) as disliked_message_count

    from scoped_events

    group by 1, 2

),

joined as (

    select
        windowed_active.app_id,
        windowed_active.report_date,
        windowed_active.app_id = 'all' as is_all_apps,
        coalesce(daily_active.dau, 0) as dau,
        windowed_active.wau,
        windowed_active.mau,
        daily_new_persons.new_persons,
        daily_new_persons.signed_up_new_persons,
        daily_new_persons.activated_new_persons,
        daily_revenue.revenue,
        daily_event_measures.impression_count,
        daily_event_measures.click_count,
        daily_event_measures.sharing_persons,
        daily_event_measures.query_count,
        daily_event_measures.conversation_count,
        daily_event_measures.input_tokens,
        daily_event_measures.output_tokens,
        daily_event_measures.total_tokens,
        daily_event_measures.cost,
        daily_event_measures.latency_p50_ms,
        daily_event_measures.latency_p95_ms,
        daily_event_measures.completed_response_count,
        daily_event_measures.failed_response_count,
        daily_event_measures.rated_message_count,
        daily_event_measures.liked_message_count,
        daily_event_measures.disliked_message_count,
        {{ lpa_add_days('windowed_active.report_date', -6) }}
        >= data_bounds.first_data_date as has_full_wau_window,
        {{ lpa_add_days('windowed_active.report_date', 1 - kpis.mau_days) }}
        >= data_bounds.first_data_date as has_full_mau_window,
        {{ lpa_add_days('windowed_active.report_date', kpis.activation_days - 1) }}
        <= data_bounds.last_data_date as is_activation_window_elapsed

    from windowed_active

    cross join data_bounds

    left join daily_active
        on
            windowed_active.app_id = daily_active.app_id
            and windowed_active.report_date = daily_active.report_date

    left join daily_event_measures
        on
            windowed_active.app_id = daily_event_measures.app_id
            and windowed_active.report_date = daily_event_measures.report_date

    left join daily_new_persons
        on
            windowed_active.app_id = 'all'
            and windowed_active.report_date = daily_new_persons.report_date

    left join daily_revenue
        on
            windowed_active.app_id = 'all'
            and windowed_active.report_date = daily_revenue.report_date

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat([
            dbt.cast('report_date', dbt.type_string()), "'|'", 'app_id'
        ])) }} as daily_kpi_id,
        app_id,

        ---------- numerics: activity
        cast(dau as bigint) as dau,
        cast(wau as bigint) as wau,
        cast(mau as bigint) as mau,
        cast(dau as double precision) / cast(nullif(mau, 0) as double precision) as stickiness,

        ---------- numerics: new persons (scope 'all' only)
        case when is_all_apps then cast(coalesce(new_persons, 0) as bigint) end as new_persons,
        case
            when is_all_apps then cast(coalesce(signed_up_new_persons, 0) as bigint)
        end as signed_up_new_persons,
        case
            when is_all_apps
                then
                    cast(signed_up_new_persons as double precision)
                    / cast(nullif(new_persons, 0) as double precision)
        end as signup_conversion_rate,
        case
            when is_all_apps and is_activation_window_elapsed
                then cast(coalesce(activated_new_persons, 0) as bigint)
        end as activated_new_persons,
        case
            when is_all_apps and is_activation_window_elapsed
                then
                    cast(activated_new_persons as double precision)
                    / cast(nullif(new_persons, 0) as double precision)
        end as activation_rate,

        ---------- numerics: engagement and revenue (scope 'all' only)
        case
            when is_all_apps then cast(coalesce(impression_count, 0) as bigint)
        end as impression_count,
        case when is_all_apps then cast(coalesce(click_count, 0) as bigint) end as click_count,
        case
            when is_all_apps
                then
                    cast(click_count as double precision)
                    / cast(nullif(impression_count, 0) as double precision)
        end as click_through_rate,
        case
            when is_all_apps then cast(coalesce(sharing_persons, 0) as bigint)
        end as sharing_persons,
        case
            when is_all_apps
                then
                    cast(coalesce(sharing_persons, 0) as double precision)
                    / cast(nullif(dau, 0) as double precision)
        end as share_rate,
        case
            when is_all_apps then cast(coalesce(revenue, 0) as numeric(20, 10))
        end as revenue,
        case
            when is_all_apps
                then
                    cast(coalesce(revenue, 0) as double precision)
                    / cast(nullif(dau, 0) as double precision)
        end as arpu,

        ---------- numerics: LLM (every scope)
        cast(coalesce(query_count, 0) as bigint) as query_count,
        cast(coalesce(conversation_count, 0) as bigint) as conversation_count,
        cast(coalesce(input_tokens, 0) as bigint) as input_tokens,
        cast(coalesce(output_tokens, 0) as bigint) as output_tokens,
        cast(coalesce(total_tokens, 0) as bigint) as total_tokens,
        cast(coalesce(cost, 0) as numeric(20, 10)) as cost,
        cast(latency_p50_ms as double precision) as latency_p50_ms,
        cast(latency_p95_ms as double precision) as latency_p95_ms,
        cast(coalesce(completed_response_count, 0) as bigint) as completed_response_count,
        cast(coalesce(failed_response_count, 0) as bigint) as failed_response_count,
        cast(failed_response_count as double precision)
        / cast(
            nullif(
                coalesce(completed_response_count, 0) + coalesce(failed_response_count, 0), 0
            ) as double precision
        ) as error_rate,
        cast(coalesce(rated_message_count, 0) as bigint) as rated_message_count,
        cast(coalesce(liked_message_count, 0) as bigint) as liked_message_count,
        cast(coalesce(disliked_message_count, 0) as bigint) as disliked_message_count,
        cast(liked_message_count as double precision)
        / cast(nullif(rated_message_count, 0) as double precision) as like_rate,
        cast(disliked_message_count as double precision)
        / cast(nullif(rated_message_count, 0) as double precision) as dislike_rate,

        ---------- booleans
        is_all_apps,
        has_full_wau_window,
        has_full_mau_window,
        is_activation_window_elapsed,

        ---------- dates
        report_date

    from joined

)

select * from final
where {{ lpa_since_batch('report_date', kpis.activation_days + kpis.mau_days) }}
