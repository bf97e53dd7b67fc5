{#- A view: base_dify__workflow_app_logs is already a table (incremental); no second copy to write. -#}
{{ config(materialized='view') }}
with

final as (

    {{ lpa_staged_rows(ref('base_dify__workflow_app_logs')) }}

)

select * from final
