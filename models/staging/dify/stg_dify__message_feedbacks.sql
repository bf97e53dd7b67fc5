with

final as (

    {{ lpa_staged_rows(ref('base_dify__message_feedbacks')) }}

)

select * from final
