{#- One row per experiment, metric and analysed person: the person's value in the metric's
    window (int_experiment__person_values, incremental by person), capped at the metric's
    winsorize_percentile over all analysed persons when it has one (a cap moves with every
    person, so this table is rebuilt whole from the values). -#}
{%- set experiments = lpa_experiments() -%}

with

person_values as (

    select * from {{ ref('int_experiment__person_values') }}

),

caps as (

    -- Winsorisation: the metric's configured percentile over all analysed persons.
    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as double precision) as cap_value
    where 1 = 0
    {%- for exp in experiments %}
        {%- for item in exp.metrics if item.metric.winsorize_percentile %}
            union all
            select
                experiment_id,
                metric_name,
                cast(
                    {{ lpa_percentile('raw_value', item.metric.winsorize_percentile) }}
                    as double precision
                )
            from person_values
            where
                experiment_id = {{ lpa_literal(exp.experiment_id) }}
                and metric_name = {{ lpa_literal(item.metric.name) }}
            group by 1, 2
        {%- endfor %}
    {%- endfor %}

),

final as (

    select
        person_values.person_metric_id,
        person_values.experiment_id,
        person_values.metric_name,
        person_values.person_id,
        person_values.variant,
        person_values.metric_kind,
        cast(case
            when caps.cap_value is not null and person_values.raw_value > caps.cap_value
                then caps.cap_value
            else person_values.raw_value
        end as double precision) as metric_value,
        cast(person_values.raw_value as double precision) as raw_value,
        cast(person_values.denominator_value as double precision) as denominator_value,
        cast(case
            when caps.cap_value is not null and person_values.pre_value > caps.cap_value
                then caps.cap_value
            else person_values.pre_value
        end as double precision) as pre_value,
        caps.cap_value is not null and person_values.raw_value > caps.cap_value as is_winsorized

    from person_values

    left join caps
        on
            person_values.experiment_id = caps.experiment_id
            and person_values.metric_name = caps.metric_name

)

select * from final
