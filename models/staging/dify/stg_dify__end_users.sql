with

final as (

    {{ lpa_staged_rows(ref('base_dify__end_users')) }}

)

select * from final
