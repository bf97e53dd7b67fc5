{#- Amplitude and Dify events in one schema, named through the alias map, with the
    cross-source duplicates folded: when the client echoed an action Dify logged (matched on
    the event property in var cross_source_match_property and the canonical event name), the
    server record is kept and takes the client's device, platform, session and properties. -#}
{%- set match_property = var('cross_source_match_property') -%}
-- depends_on: {{ ref('int_events__batch_window') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='append_new_columns',
    pre_hook="{{ lpa_delete_batch_events() }}"
) }}

with

amplitude_events as (

    select * from {{ ref('stg_amplitude__events') }}
    where {{ lpa_amplitude_in_batch() }}

),

dify_events as (

    select * from {{ ref('int_events__dify_derived') }}
    where {{ lpa_dify_in_batch() }}

),

aliases as (

    select * from {{ ref('event_aliases') }}

),

amplitude_unified as (

    select
        {{ dbt.hash(dbt.concat(["'amplitude|'", 'amplitude_event_id'])) }} as event_id,
        'amplitude' as source,
        event_type as raw_event_name,
        event_at,
        user_id,
        device_id,
        amplitude_id,
        case when not is_out_of_session then session_id end as amplitude_session_id,
        platform,
        country,
        {{ lpa_json_to_text('event_properties') }} as properties,
        {{ lpa_json_field_text('event_properties', match_property) }} as matched_message_id,
        {{ lpa_to_bigint(lpa_json_field_text('event_properties', 'user_rating')) }}
            as user_rating

    from amplitude_events

),

amplitude_named as (

    select
        amplitude_unified.*,
        {{ lpa_alias_columns('amplitude_unified.raw_event_name', 'amplitude_unified.platform') }}

    from amplitude_unified

    {{ lpa_alias_joins('amplitude_unified', 'amplitude_unified.platform') }}

),

dify_named as (

    -- Dify events have no platform: only platform-less aliases apply.
    select
        dify_events.*,
        {{ lpa_alias_columns('dify_events.raw_event_name', none) }}

    from dify_events

    {{ lpa_alias_joins('dify_events', none) }}

),

client_echoes as (

    -- One client echo per server event: the earliest, if the client sent it twice.
    select
        amplitude_named.*,
        row_number() over (
            partition by amplitude_named.matched_message_id, amplitude_named.event_name
            order by amplitude_named.event_at asc, amplitude_named.event_id asc
        ) as echo_rank

    from amplitude_named

    inner join dify_named
        on
            amplitude_named.matched_message_id = dify_named.message_id
            and amplitude_named.event_name = dify_named.event_name

),

amplitude_kept as (

    select
        amplitude_named.event_id,
        amplitude_named.source,
        amplitude_named.event_name,
        amplitude_named.raw_event_name,
        amplitude_named.is_mapped,
        amplitude_named.event_at,
        amplitude_named.user_id,
        amplitude_named.device_id,
        amplitude_named.amplitude_id,
        amplitude_named.amplitude_session_id,
        amplitude_named.platform,
        cast(null as {{ dbt.type_string() }}) as app_id,
        amplitude_named.country,
        amplitude_named.properties,
        cast(null as {{ dbt.type_string() }}) as conversation_id,
        cast(null as {{ dbt.type_string() }}) as message_id,
        cast(null as {{ dbt.type_string() }}) as workflow_run_id,
        cast(null as {{ dbt.type_string() }}) as dify_end_user_id,
        cast(null as {{ dbt.type_string() }}) as dify_account_id,
        cast(null as {{ dbt.type_string() }}) as prompt_version_id,
        cast(null as {{ dbt.type_string() }}) as model_provider,
        cast(null as {{ dbt.type_string() }}) as model_name,
        cast(null as bigint) as input_tokens,
        cast(null as bigint) as output_tokens,
        cast(null as bigint) as total_tokens,
        cast(null as double precision) as latency_ms,
        cast(null as decimal(20, 10)) as cost,
        cast(null as {{ dbt.type_string() }}) as currency,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as error,
        cast(null as integer) as rating,
        case when amplitude_named.user_rating between 1 and 5 then amplitude_named.user_rating end
            as user_rating,
        false as is_internal_traffic,
        cast(null as {{ dbt.type_string() }}) as client_event_id,
        amplitude_named.matched_message_id

    from amplitude_named

    left join client_echoes
        on amplitude_named.event_id = client_echoes.event_id

    where client_echoes.event_id is null

),

dify_enriched as (

    select
        dify_named.event_id,
        dify_named.source,
        dify_named.event_name,
        dify_named.raw_event_name,
        dify_named.is_mapped,
        dify_named.event_at,
        coalesce(dify_named.user_id, client_echoes.user_id) as user_id,
        client_echoes.device_id,
        client_echoes.amplitude_id,
        client_echoes.amplitude_session_id,
        client_echoes.platform,
        dify_named.app_id,
        client_echoes.country,
        client_echoes.properties,
        dify_named.conversation_id,
        dify_named.message_id,
        dify_named.workflow_run_id,
        dify_named.dify_end_user_id,
        dify_named.dify_account_id,
        dify_named.prompt_version_id,
        dify_named.model_provider,
        dify_named.model_name,
        dify_named.input_tokens,
        dify_named.output_tokens,
        dify_named.total_tokens,
        dify_named.latency_ms,
        dify_named.cost,
        dify_named.currency,
        dify_named.status,
        dify_named.error,
        dify_named.rating,
        case when client_echoes.user_rating between 1 and 5 then client_echoes.user_rating end
            as user_rating,
        dify_named.is_internal_traffic,
        client_echoes.event_id as client_event_id,
        cast(null as {{ dbt.type_string() }}) as matched_message_id

    from dify_named

    left join client_echoes
        on
            dify_named.message_id = client_echoes.matched_message_id
            and dify_named.event_name = client_echoes.event_name
            and client_echoes.echo_rank = 1

),

unioned as (

    select * from amplitude_kept
    union all
    select * from dify_enriched

)

select * from unioned
{{ lpa_storage_order('event_at') }}
