with

final as (

    {{ lpa_staged_rows(ref('base_dify__workflow_runs')) }}

)

select * from final
