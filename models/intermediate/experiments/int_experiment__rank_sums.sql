{#- Mann-Whitney U inputs per experiment, mean metric and treatment variant: the rank sum of
    the treatment arm among control + treatment values (average ranks for ties), the arm
    sizes and the tie term sum(t^3 - t) over groups of t tied values. Computed in SQL so the
    PostgreSQL results model gets the same U test the DuckDB Python model gets from scipy. -#}
with

person_metrics as (

    select * from {{ ref('fct_experiment_person_metrics') }}

),

variants as (

    select * from {{ ref('dim_experiment_variants') }}

),

pairs as (

    select
        treatments.experiment_id,
        treatments.variant as treatment_variant,
        controls.variant as control_variant

    from variants as treatments

    inner join variants as controls
        on treatments.experiment_id = controls.experiment_id and controls.is_control

    where not treatments.is_control

),

paired_values as (

    select
        person_metrics.experiment_id,
        person_metrics.metric_name,
        pairs.treatment_variant,
        person_metrics.variant = pairs.treatment_variant as is_treatment,
        person_metrics.metric_value

    from person_metrics

    inner join pairs
        on
            person_metrics.experiment_id = pairs.experiment_id
            and person_metrics.variant in (pairs.treatment_variant, pairs.control_variant)

    where person_metrics.metric_kind = 'mean'

),

ranked as (

    select
        *,
        rank() over (
            partition by experiment_id, metric_name, treatment_variant
            order by metric_value asc nulls last
        ) as min_rank,
        count(*) over (
            partition by experiment_id, metric_name, treatment_variant, metric_value
        ) as tie_count

    from paired_values

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'experiment_id', "'|'", 'metric_name', "'|'", 'treatment_variant'
        ])) }} as rank_sum_id,
        experiment_id,
        metric_name,
        treatment_variant,
        cast(
            sum(case when is_treatment then min_rank + (tie_count - 1) / 2.0 end)
            as double precision
        ) as rank_sum_treatment,
        cast(sum(case when is_treatment then 0 else 1 end) as bigint) as n_control,
        cast(sum(case when is_treatment then 1 else 0 end) as bigint) as n_treatment,
        -- each of a group's t rows adds (t^3 - t) / t = t^2 - 1
        cast(sum(cast(tie_count as double precision) * tie_count - 1) as double precision)
            as tie_term

    from ranked

    group by 2, 3, 4

)

select * from final
