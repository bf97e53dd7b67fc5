{#- One row per configured experiment (var experiments) and variant: where its assignment
    comes from, its planned weight and its test settings. Built from configuration alone, so
    the marts show an experiment before anyone is exposed. -#}
{%- set experiments = lpa_experiments() -%}

with

configured as (

    {% for exp in experiments -%}
        {%- for v in exp.variants %}
    select
        {{ lpa_literal(exp.experiment_id) }} as experiment_id,
        {{ lpa_literal(v.name) }} as variant,
        {{ 'true' if v.name == exp.control else 'false' }} as is_control,
        {{ lpa_double_literal(v.weight) }} as planned_weight,
        {{ lpa_literal(exp.source) }} as assignment_source,
        {{ lpa_literal(exp.flag_key if exp.source == 'exposure' else none) }} as flag_key,
        {{ lpa_literal(exp.property) }} as user_property,
        {{ lpa_literal(exp.app_id) }} as app_id,
        {{ lpa_literal(v.prompt_version_id) }} as prompt_version_id,
        {{ lpa_literal(exp.start) }} as start_date,
        {{ lpa_literal(exp.end) }} as end_date,
        {{ lpa_literal(exp.hypothesis) }} as hypothesis,
        {{ lpa_double_literal(exp.alpha) }} as alpha,
        {{ lpa_double_literal(exp.power) }} as power,
        {{ lpa_double_literal(exp.mde) }} as minimum_detectable_effect,
        {{ lpa_literal(exp.correction) }} as correction_method
    {{ 'union all' if not loop.last }}
        {%- endfor %}
        {{ 'union all' if not loop.last }}
    {%- else %}
    select
        null as experiment_id, null as variant, false as is_control, null as planned_weight,
        null as assignment_source, null as flag_key, null as user_property, null as app_id,
        null as prompt_version_id, null as start_date, null as end_date, null as hypothesis,
        null as alpha, null as power, null as minimum_detectable_effect,
        null as correction_method
    where 1 = 0
    {%- endfor %}

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(is_control as boolean) as is_control,
        cast(planned_weight as double precision) as planned_weight,
        cast(assignment_source as {{ dbt.type_string() }}) as assignment_source,
        cast(flag_key as {{ dbt.type_string() }}) as flag_key,
        cast(user_property as {{ dbt.type_string() }}) as user_property,
        cast(app_id as {{ dbt.type_string() }}) as app_id,
        cast(prompt_version_id as {{ dbt.type_string() }}) as prompt_version_id,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(hypothesis as {{ dbt.type_string() }}) as hypothesis,
        cast(alpha as double precision) as alpha,
        cast(power as double precision) as power,
        cast(minimum_detectable_effect as double precision) as minimum_detectable_effect,
        cast(correction_method as {{ dbt.type_string() }}) as correction_method

    from configured

)

select * from final
