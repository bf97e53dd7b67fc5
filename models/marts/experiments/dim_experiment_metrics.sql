{#- One row per configured experiment and metric: the metric's exact definition as
    configured (vars experiments, experiment_metrics) and its role in the decision. -#}
{%- set experiments = lpa_experiments() -%}

with

configured as (

    {% for exp in experiments -%}
        {%- for item in exp.metrics -%}
            {%- set m = item.metric %}
    select
        {{ lpa_literal(exp.experiment_id) }} as experiment_id,
        {{ lpa_literal(m.name) }} as metric_name,
        {{ lpa_literal(item.role) }} as metric_role,
        {{ lpa_literal(m.kind) }} as metric_kind,
        {{ lpa_literal(m.description) }} as metric_description,
        {{ lpa_literal(m.numerator.event) }} as numerator_event,
        {{ lpa_literal(m.numerator.value) }} as numerator_value,
        {{ lpa_literal(m.numerator.where) }} as numerator_filter,
        {{ lpa_literal('sessions' if m.denominator == 'sessions'
            else (m.denominator.event if m.denominator else none)) }} as denominator_event,
        {{ lpa_literal(m.denominator.value if m.denominator is mapping else none) }}
            as denominator_value,
        {{ lpa_double_literal(m.window_days) }} as window_days,
        {{ lpa_double_literal(m.pre_window_days) }} as pre_window_days,
        {{ lpa_double_literal(m.winsorize_percentile) }} as winsorize_percentile,
        {{ 'true' if m.higher_is_better else 'false' }} as is_higher_better
    {{ 'union all' if not loop.last }}
        {%- endfor %}
        {{ 'union all' if not loop.last }}
    {%- else %}
    select
        null as experiment_id, null as metric_name, null as metric_role, null as metric_kind,
        null as metric_description, null as numerator_event, null as numerator_value,
        null as numerator_filter, null as denominator_event, null as denominator_value,
        null as window_days, null as pre_window_days, null as winsorize_percentile,
        true as is_higher_better
    where 1 = 0
    {%- endfor %}

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(metric_name as {{ dbt.type_string() }}) as metric_name,
        cast(metric_role as {{ dbt.type_string() }}) as metric_role,
        cast(metric_kind as {{ dbt.type_string() }}) as metric_kind,
        cast(metric_description as {{ dbt.type_string() }}) as metric_description,
        cast(numerator_event as {{ dbt.type_string() }}) as numerator_event,
        cast(numerator_value as {{ dbt.type_string() }}) as numerator_value,
        cast(numerator_filter as {{ dbt.type_string() }}) as numerator_filter,
        cast(denominator_event as {{ dbt.type_string() }}) as denominator_event,
        cast(denominator_value as {{ dbt.type_string() }}) as denominator_value,
        cast(window_days as double precision) as window_days,
        cast(pre_window_days as double precision) as pre_window_days,
        cast(winsorize_percentile as double precision) as winsorize_percentile,
        cast(is_higher_better as boolean) as is_higher_better

    from configured

)

select * from final
