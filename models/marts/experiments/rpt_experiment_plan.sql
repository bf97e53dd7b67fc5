{#- One row per configured experiment and metric: how many persons per arm the configured
    relative MDE needs at the configured alpha (two-sided) and power, and the relative MDE
    the experiment can detect with the persons it has now. Normal approximation with equal
    arms: n = 2 sigma^2 (z_{1-alpha/2} + z_power)^2 / (mde * |baseline|)^2, sigma^2 the
    per-person variance in the control arm (delta-method linearisation for ratios). -#}
{%- set experiments = lpa_experiments() -%}

with

summaries as (

    select * from {{ ref('rpt_experiment_variant_summaries') }}

),

metrics as (

    select * from {{ ref('dim_experiment_metrics') }}

),

variants as (

    select * from {{ ref('dim_experiment_variants') }}

),

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}

),

z_values as (

    {% for exp in experiments -%}
    select
        {{ lpa_literal(exp.experiment_id) }} as experiment_id,
        {{ lpa_normal_quantile(1 - exp.alpha / 2) }} + {{ lpa_normal_quantile(exp.power) }}
            as z_sum
    {{ 'union all' if not loop.last }}
    {% else -%}
    select cast(null as {{ dbt.type_string() }}) as experiment_id, 0.0 as z_sum where 1 = 0
    {%- endfor %}

),

controls as (

    select
        experiment_id,
        metric_name,
        n,
        {{ lpa_arm_value() }} as baseline_mean,
        case
            when n < 2 then null
            when metric_kind = 'ratio' then {{ lpa_ratio_unit_variance() }}
            else m2_value / (n - 1)
        end as unit_variance

    from summaries

    where is_control

),

treatments as (

    select
        experiment_id,
        metric_name,
        min(n) as smallest_treatment_n

    from summaries

    where not is_control

    group by 1, 2

),

traffic as (

    select
        assignments.experiment_id,
        count(*) as included_persons,
        {{ dbt.datediff('min(variants.start_date)', 'max(assignments.first_exposure_date)', 'day') }} + 1
            as days_observed

    from assignments

    inner join variants
        on assignments.experiment_id = variants.experiment_id and variants.is_control

    where assignments.is_included

    group by 1

),

planned as (

    select
        {{ dbt.hash(dbt.concat(['metrics.experiment_id', "'|'", 'metrics.metric_name'])) }}
            as plan_id,
        metrics.experiment_id,
        metrics.metric_name,
        metrics.metric_role,
        metrics.metric_kind,
        cast(variants.alpha as double precision) as alpha,
        cast(variants.power as double precision) as power,
        cast(variants.minimum_detectable_effect as double precision) as minimum_detectable_effect,
        cast(controls.baseline_mean as double precision) as baseline_mean,
        cast(controls.unit_variance as double precision) as baseline_unit_variance,
        cast(ceil(
            2 * controls.unit_variance * z_values.z_sum * z_values.z_sum
            / nullif(
                (variants.minimum_detectable_effect * abs(controls.baseline_mean))
                * (variants.minimum_detectable_effect * abs(controls.baseline_mean)), 0
            )
        ) as bigint) as required_n_per_arm,
        cast(controls.n as bigint) as current_n_control,
        cast(treatments.smallest_treatment_n as bigint) as current_n_smallest_treatment,
        cast(
            z_values.z_sum * sqrt(
                controls.unit_variance
                * (1.0 / nullif(controls.n, 0) + 1.0 / nullif(treatments.smallest_treatment_n, 0))
            ) / nullif(abs(controls.baseline_mean), 0)
            as double precision
        ) as current_relative_mde,
        cast(traffic.included_persons as bigint) as included_persons,
        cast(traffic.days_observed as integer) as days_observed

    from metrics

    inner join variants
        on metrics.experiment_id = variants.experiment_id and variants.is_control

    inner join z_values
        on metrics.experiment_id = z_values.experiment_id

    left join controls
        on
            metrics.experiment_id = controls.experiment_id
            and metrics.metric_name = controls.metric_name

    left join treatments
        on
            metrics.experiment_id = treatments.experiment_id
            and metrics.metric_name = treatments.metric_name

    left join traffic
        on metrics.experiment_id = traffic.experiment_id

),

final as (

    select
        *,
        cast(
            current_relative_mde is not null and current_relative_mde <= minimum_detectable_effect
            as boolean
        ) as is_powered_for_mde

    from planned

)

select * from final
