{#- One row per experiment, metric and configured variant: the sufficient statistics every
    test in rpt_experiment_results is computed from. Second moments are centred (two passes:
    means first, then sums of products of deviations), which keeps them exact to rounding on
    both adapters where the textbook sum(x^2) - n mean^2 cancels catastrophically. A
    configured variant nobody was exposed to has n = 0. -#}
with

person_metrics as (

    select * from {{ ref('fct_experiment_person_metrics') }}

),

metrics as (

    select * from {{ ref('dim_experiment_metrics') }}

),

variants as (

    select * from {{ ref('dim_experiment_variants') }}

),

means as (

    select
        experiment_id,
        metric_name,
        variant,
        count(*) as n,
        sum(metric_value) as sum_value,
        avg(metric_value) as mean_value,
        sum(denominator_value) as sum_denominator,
        avg(denominator_value) as mean_denominator,
        sum(pre_value) as sum_pre,
        avg(pre_value) as mean_pre

    from person_metrics

    group by 1, 2, 3

),

centred as (

    select
        person_metrics.experiment_id,
        person_metrics.metric_name,
        person_metrics.variant,
        sum({{ lpa_centred_product('metric_value', 'mean_value', 'metric_value', 'mean_value') }})
            as m2_value,
        sum({{ lpa_centred_product('denominator_value', 'mean_denominator',
            'denominator_value', 'mean_denominator') }}) as m2_denominator,
        sum({{ lpa_centred_product('metric_value', 'mean_value',
            'denominator_value', 'mean_denominator') }}) as c_value_denominator,
        sum({{ lpa_centred_product('pre_value', 'mean_pre', 'pre_value', 'mean_pre') }})
            as m2_pre,
        sum({{ lpa_centred_product('metric_value', 'mean_value', 'pre_value', 'mean_pre') }})
            as c_value_pre

    from person_metrics

    inner join means
        on
            person_metrics.experiment_id = means.experiment_id
            and person_metrics.metric_name = means.metric_name
            and person_metrics.variant = means.variant

    group by 1, 2, 3

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'metrics.experiment_id', "'|'", 'metrics.metric_name', "'|'", 'variants.variant'
        ])) }} as variant_summary_id,
        metrics.experiment_id,
        metrics.metric_name,
        variants.variant,
        variants.is_control,
        metrics.metric_role,
        metrics.metric_kind,
        cast(coalesce(means.n, 0) as bigint) as n,
        cast(coalesce(means.sum_value, 0) as double precision) as sum_value,
        cast(means.mean_value as double precision) as mean_value,
        cast(centred.m2_value as double precision) as m2_value,
        cast(case when means.n > 1 then centred.m2_value / (means.n - 1) end as double precision)
            as variance_value,
        cast(means.sum_denominator as double precision) as sum_denominator,
        cast(means.mean_denominator as double precision) as mean_denominator,
        cast(centred.m2_denominator as double precision) as m2_denominator,
        cast(centred.c_value_denominator as double precision) as c_value_denominator,
        cast(means.sum_pre as double precision) as sum_pre,
        cast(means.mean_pre as double precision) as mean_pre,
        cast(centred.m2_pre as double precision) as m2_pre,
        cast(centred.c_value_pre as double precision) as c_value_pre

    from metrics

    inner join variants
        on metrics.experiment_id = variants.experiment_id

    left join means
        on
            metrics.experiment_id = means.experiment_id
            and metrics.metric_name = means.metric_name
            and variants.variant = means.variant

    left join centred
        on
            metrics.experiment_id = centred.experiment_id
            and metrics.metric_name = centred.metric_name
            and variants.variant = centred.variant

)

select * from final
