with

final as (

    {{ lpa_staged_rows(ref('base_dify__app_model_configs')) }}

)

select * from final
