{#- A view: base_dify__conversations is an incremental table; no second copy to write. -#}
{{ config(materialized='view') }}
with

final as (

    {{ lpa_staged_rows(ref('base_dify__conversations')) }}

)

select * from final
