with

final as (

    {{ lpa_staged_rows(ref('base_dify__workflow_app_logs')) }}

)

select * from final
