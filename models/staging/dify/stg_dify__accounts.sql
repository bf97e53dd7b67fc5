with

final as (

    {{ lpa_staged_rows(ref('base_dify__accounts')) }}

)

select * from final
