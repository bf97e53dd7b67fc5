with

base_merge_ids as (

    select * from {{ ref('base_amplitude__merge_ids') }}

),

final as (

    select
        ---------- ids
        amplitude_id,
        merged_amplitude_id,
        amplitude_scope_id,

        ---------- timestamps (UTC)
        merged_at,
        merge_server_at,

        ---------- lineage
        source_file_name,
        loaded_at

    from base_merge_ids

    where rejection_reason is null and duplicate_type is null

)

select * from final
