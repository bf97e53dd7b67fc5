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
    post_hook="{{ lpa_delete_event_tombstones() }}"
) }}

with

{% if lpa_is_batch_model() -%}
    batch_messages as (

        {{ lpa_batch_message_ids() }}

    ),
{%- endif %}

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

),

{% if lpa_is_batch_model() %}
    {#- A batch writes only what it changes: of the events in its scope, the new ones, those
        that come out different, and a tombstone (source null, deleted by the post-hook once
        the insert replaced the key) for each one it no longer makes. staged_at marks the
        written rows for int_events__changed. -#}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(this)
        if column.name | lower != 'staged_at' -%}
        {%- do columns.append(column) -%}
    {%- endfor %}
    {%- set names = columns | map(attribute='name') | map('lower') | list %}

    prior_rows as (

        -- The fingerprints of the events in the batch's scope as the last build left them.
        select
            prior_rows.event_id,
            {{ lpa_columns_hash('prior_rows', names) }} as content_hash
        from {{ this }} as prior_rows
        where {{ lpa_unioned_batch_scope() }}

    ),

    candidate_keys as (

        select
            unioned.event_id,
            {{ lpa_columns_hash('unioned', names) }} as content_hash
        from unioned

    ),

    changed_keys as (

        -- New, or not as stored (joined on narrow keys, not on whole rows).
        select candidate_keys.event_id from candidate_keys
        left join prior_rows
            on
                candidate_keys.event_id = prior_rows.event_id
                and candidate_keys.content_hash = prior_rows.content_hash
        where prior_rows.event_id is null

    ),

    changed as (

        select
            {%- for name in names %}
            unioned.{{ name }},
            {%- endfor %}
            {{ lpa_build_started_at() }} as staged_at
        from unioned
        where unioned.event_id in (select changed_keys.event_id from changed_keys)

    ),

    tombstones as (

        select
            {%- for column in columns %}
            {% if column.name | lower == 'event_id' %}prior_rows.event_id
            {%- else %}cast(null as {{ column.data_type }}) as {{ column.name | lower }}{% endif %},
            {%- endfor %}
            {{ lpa_build_started_at() }} as staged_at
        from prior_rows
        where not exists (
            select 1 from candidate_keys
            where candidate_keys.event_id = prior_rows.event_id
        )

    ),

    final as (

        select * from changed
        union all
        select * from tombstones

    )

{% else %}

    final as (

        select
            *,
            {{ lpa_build_started_at() }} as staged_at
        from unioned

    )

{% endif %}

select * from final
{{ lpa_storage_order('event_at') }}
