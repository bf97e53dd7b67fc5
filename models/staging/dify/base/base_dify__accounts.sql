{#- Console accounts. password and password_salt are never read past this point. -#}
{%- set reason -%}
    {{ lpa_first_failed_check([
        ['invalid_id', lpa_is_uuid('source.id')],
        ['invalid_timestamp', lpa_to_timestamp('source.created_at') ~ ' is not null'],
    ]) }}
{%- endset -%}

with

source as (

    select * from {{ source('dify', 'accounts') }}

),

typed as (

    select
        ---------- ids
        lower(source.id) as account_id,

        ---------- strings
        source.name as account_name,
        source.email,
        source.avatar,
        source.interface_language,
        source.interface_theme,
        source.timezone as account_timezone,
        source.last_login_ip,
        {{ lpa_normalise_enum('source.status') }} as account_status,

        ---------- timestamps (UTC)
        {{ lpa_to_timestamp('source.last_login_at') }} as last_login_at,
        {{ lpa_to_timestamp('source.last_active_at') }} as last_active_at,
        {{ lpa_to_timestamp('source.initialized_at') }} as initialized_at,
        {{ lpa_to_timestamp('source.created_at') }} as created_at,
        {{ lpa_to_timestamp('source.updated_at') }} as updated_at,

        ---------- quarantine and lineage
        {{ lpa_dify_lineage_columns('accounts', reason) }}

    from source

),

final as (

    {{ lpa_flag_duplicate_ids('typed', 'account_id', 'updated_at') }}

)

select * from final
