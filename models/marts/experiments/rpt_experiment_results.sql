{#- PostgreSQL twin of python_models/experiments/rpt_experiment_results.py (dbt-postgres
    cannot run Python models): the same columns and the same rules as
    llm_product_analytics.experiments / .stats, in SQL over the same sufficient statistics,
    with PL/pgSQL distribution functions (macros/cross_db/stats_functions.sql) instead of
    scipy, and Mann-Whitney from SQL ranks (int_experiment__rank_sums). Enabled only where
    Python models cannot run (dbt_project.yml). -#}
{{ config(contract={'enforced': true}) }}
{%- set fn = target.schema ~ '.' -%}
{%- set srm_alpha = 0.001 -%}

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

rank_sums as (

    select * from {{ ref('int_experiment__rank_sums') }}

),

config as (

    select
        experiment_id,
        max(alpha) as alpha,
        max(minimum_detectable_effect) as mde,
        max(correction_method) as correction_method,
        max(case when is_control then variant end) as control_variant

    from variants

    group by 1

),

-- each arm's metric value and the variance of that value (kind-specific, ddof = 1)
arms as (

    select
        summaries.*,
        metrics.is_higher_better,
        {{ lpa_arm_value('summaries.') }} as arm_mean,
        case
            when summaries.metric_kind = 'proportion' and summaries.n >= 1
                then summaries.mean_value * (1 - summaries.mean_value) / nullif(summaries.n, 0)
            when summaries.metric_kind = 'mean' and summaries.n >= 2
                then summaries.variance_value / nullif(summaries.n, 0)
            when summaries.metric_kind = 'ratio' and summaries.n >= 2 and summaries.sum_denominator <> 0
                then greatest({{ lpa_ratio_unit_variance('summaries.') }} / nullif(summaries.n, 0), 0)
        end as arm_mean_variance

    from summaries

    inner join metrics
        on
            summaries.experiment_id = metrics.experiment_id
            and summaries.metric_name = metrics.metric_name

),

pairs as (

    select
        t.experiment_id,
        t.metric_name,
        t.metric_role,
        t.metric_kind,
        t.variant,
        c.variant as control_variant,
        t.is_higher_better,
        config.alpha,
        config.mde,
        c.n as n_c,
        t.n as n_t,
        c.sum_value as sum_c,
        t.sum_value as sum_t,
        c.variance_value as var_c,
        t.variance_value as var_t,
        c.arm_mean as mean_c,
        t.arm_mean as mean_t,
        c.arm_mean_variance as v_c,
        t.arm_mean_variance as v_t,
        c.mean_pre as pre_mean_c,
        t.mean_pre as pre_mean_t,
        c.m2_pre as pre_m2_c,
        t.m2_pre as pre_m2_t,
        c.c_value_pre as pre_cov_c,
        t.c_value_pre as pre_cov_t,
        c.m2_value as m2_c,
        t.m2_value as m2_t,
        c.mean_value as value_mean_c,
        t.mean_value as value_mean_t

    from arms as t

    inner join config
        on t.experiment_id = config.experiment_id

    inner join arms as c
        on
            t.experiment_id = c.experiment_id
            and t.metric_name = c.metric_name
            and c.variant = config.control_variant

    where t.variant <> config.control_variant

),

-- the test: estimate, standard error, the statistic's standard error and df (null = z)
tests as (

    select
        *,
        case
            when metric_kind = 'mean' and (n_c < 2 or n_t < 2) then 'fewer than 2 units in an arm'
            when metric_kind = 'proportion' and (n_c < 1 or n_t < 1) then 'an arm is empty'
            when metric_kind = 'ratio' and (v_c is null or v_t is null)
                then 'fewer than 2 units or zero denominator in an arm'
            when metric_kind = 'proportion'
                and (sum_c + sum_t) * (1 - (sum_c + sum_t) / nullif(n_c + n_t, 0)) <= 0
                then 'zero variance'
            when metric_kind <> 'proportion' and v_c + v_t <= 0 then 'zero variance'
        end as undefined_reason,
        case
            when metric_kind = 'mean' then 'welch_t'
            when metric_kind = 'proportion' then 'two_proportion_z'
            else 'delta_method_z'
        end as test_method,
        {{ fn }}lpa_norm_ppf(1 - alpha / 2) as z_critical,
        mean_t - mean_c as diff,
        sqrt(v_c + v_t) as se,
        case
            when metric_kind = 'proportion'
                then sqrt(
                    ((sum_c + sum_t) / nullif(n_c + n_t, 0)) * (1 - (sum_c + sum_t) / nullif(n_c + n_t, 0))
                    * (1.0 / nullif(n_c, 0) + 1.0 / nullif(n_t, 0))
                )
            else sqrt(v_c + v_t)
        end as se_null,
        case
            when metric_kind = 'mean' and n_c >= 2 and n_t >= 2 and v_c + v_t > 0
                then (v_c + v_t) * (v_c + v_t)
                / nullif(v_c * v_c / nullif(n_c - 1, 0) + v_t * v_t / nullif(n_t - 1, 0), 0)
        end as df

    from pairs

),

tested as (

    select
        *,
        case when undefined_reason is null then diff / nullif(se_null, 0) end as statistic,
        -- z without df; the absolute interval uses it only where the test is defined
        case
            when df is null then z_critical
            else {{ fn }}lpa_t_ppf(1 - alpha / 2, df)
        end as critical

    from tests

),

-- CUPED: y - theta * x with theta pooled within arms (llm_product_analytics.stats)
cuped as (

    select
        *,
        (pre_cov_c + pre_cov_t) / nullif(pre_m2_c + pre_m2_t, 0) as theta

    from tested

),

cuped_arms as (

    select
        *,
        (value_mean_t - theta * pre_mean_t) - (value_mean_c - theta * pre_mean_c) as cuped_diff,
        greatest((m2_c - 2 * theta * pre_cov_c + theta * theta * pre_m2_c) / nullif(n_c - 1, 0), 0) / nullif(n_c, 0)
            as cuped_v_c,
        greatest((m2_t - 2 * theta * pre_cov_t + theta * theta * pre_m2_t) / nullif(n_t - 1, 0), 0) / nullif(n_t, 0)
            as cuped_v_t

    from cuped

    where
        metric_kind <> 'ratio' and pre_mean_c is not null and pre_mean_t is not null
        and n_c >= 2 and n_t >= 2 and pre_m2_c + pre_m2_t > 0

),

cuped_tests as (

    select
        experiment_id,
        metric_name,
        variant,
        cuped_diff,
        sqrt(cuped_v_c + cuped_v_t) as cuped_se,
        {{ fn }}lpa_t_ppf(
            1 - alpha / 2,
            (cuped_v_c + cuped_v_t) * (cuped_v_c + cuped_v_t)
            / nullif(cuped_v_c * cuped_v_c / nullif(n_c - 1, 0) + cuped_v_t * cuped_v_t / nullif(n_t - 1, 0), 0)
        ) as cuped_critical,
        least(1, 2 * {{ fn }}lpa_t_sf(
            abs(cuped_diff) / nullif(sqrt(cuped_v_c + cuped_v_t), 0),
            (cuped_v_c + cuped_v_t) * (cuped_v_c + cuped_v_t)
            / nullif(cuped_v_c * cuped_v_c / nullif(n_c - 1, 0) + cuped_v_t * cuped_v_t / nullif(n_t - 1, 0), 0)
        )) as cuped_p_value

    from cuped_arms

    where cuped_v_c + cuped_v_t > 0

),

mann_whitney as (

    select
        experiment_id,
        metric_name,
        treatment_variant as variant,
        case
            when n_control * n_treatment / 12.0 * (
                (n_control + n_treatment + 1)
                - tie_term / nullif((n_control + n_treatment) * (n_control + n_treatment - 1.0), 0)
            ) > 0
                then least(1, 2 * {{ fn }}lpa_norm_sf(greatest(
                    (abs(rank_sum_treatment - n_treatment * (n_treatment + 1) / 2.0
                        - n_control * n_treatment / 2.0) - 0.5)
                    / sqrt(n_control * n_treatment / 12.0 * (
                        (n_control + n_treatment + 1)
                        - tie_term / nullif((n_control + n_treatment) * (n_control + n_treatment - 1.0), 0)
                    )),
                    0
                )))
        end as mann_whitney_p_value

    from rank_sums

    where n_control >= 1 and n_treatment >= 1

),

measured as (

    select
        tested.*,
        case
            when undefined_reason is null
                then least(1, 2 * case
                    when df is null then {{ fn }}lpa_norm_sf(abs(statistic))
                    else {{ fn }}lpa_t_sf(abs(statistic), df)
                end)
        end as p_value,
        -- nested whens: PostgreSQL may evaluate the parts of one `and` in any order
        case
            when mean_c is null or mean_c = 0 or mean_t is null or v_c is null or v_t is null
                then null
            when v_t / (mean_c * mean_c) + mean_t * mean_t * v_c / (mean_c * mean_c * mean_c * mean_c) > 0
                then sqrt(
                    v_t / (mean_c * mean_c) + mean_t * mean_t * v_c / (mean_c * mean_c * mean_c * mean_c)
                )
        end as relative_se,
        case
            when metric_kind = 'mean' and n_c >= 2 and n_t >= 2
                and ((n_c - 1) * var_c + (n_t - 1) * var_t) > 0
                then (mean_t - mean_c)
                / sqrt(((n_c - 1) * var_c + (n_t - 1) * var_t) / nullif(n_c + n_t - 2, 0))
            when metric_kind = 'proportion' and n_c >= 1 and n_t >= 1
                then 2 * asin(sqrt(mean_t)) - 2 * asin(sqrt(mean_c))
        end as effect_size,
        case
            when metric_kind = 'mean' then 'cohens_d'
            when metric_kind = 'proportion' then 'cohens_h'
            else 'none'
        end as effect_size_method,
        case
            when se is not null and se > 0 and mean_c is not null
                then {{ fn }}lpa_norm_sf(z_critical - mde * abs(mean_c) / se)
                + {{ fn }}lpa_norm_cdf(-mde * abs(mean_c) / se - z_critical)
        end as achieved_power,
        case
            when se is not null and se > 0 and diff is not null
                then {{ fn }}lpa_norm_cdf(case when is_higher_better then diff else -diff end / se)
        end as prob_beat_control

    from tested

),

ranked_primary as (

    select
        measured.experiment_id,
        measured.metric_name,
        measured.variant,
        measured.p_value,
        config.correction_method,
        row_number() over (
            partition by measured.experiment_id
            order by measured.p_value asc, measured.metric_name asc, measured.variant asc
        ) as p_rank,
        count(*) over (partition by measured.experiment_id) as p_count

    from measured

    inner join config
        on measured.experiment_id = config.experiment_id

    where measured.metric_role = 'primary' and measured.p_value is not null

),

adjusted as (

    -- Holm: running max of (m - i + 1) p_(i); Benjamini-Hochberg: running min from the
    -- largest p of m p_(i) / i
    select
        experiment_id,
        metric_name,
        variant,
        correction_method,
        case
            when correction_method = 'holm'
                then max(least(1, (p_count - p_rank + 1) * p_value)) over (
                    partition by experiment_id order by p_rank asc
                    rows between unbounded preceding and current row
                )
            else least(1, min(p_count * p_value / p_rank) over (
                partition by experiment_id order by p_rank desc
                rows between unbounded preceding and current row
            ))
        end as adjusted_p_value

    from ranked_primary

),

srm_counts as (

    select
        variants.experiment_id,
        variants.variant,
        variants.planned_weight,
        count(assignments.person_id) as observed

    from variants

    left join assignments
        on
            variants.experiment_id = assignments.experiment_id
            and variants.variant = assignments.variant
            and assignments.is_included

    group by 1, 2, 3

),

srm_expected as (

    select
        *,
        sum(observed) over (partition by experiment_id)
        * planned_weight / sum(planned_weight) over (partition by experiment_id) as expected,
        count(*) over (partition by experiment_id) as variant_count

    from srm_counts

),

srm as (

    select
        experiment_id,
        case
            when max(variant_count) >= 2 and sum(observed) > 0
                then {{ fn }}lpa_chi2_sf(
                    sum((observed - expected) * (observed - expected) / nullif(expected, 0)),
                    max(variant_count) - 1
                )
        end as srm_p_value

    from srm_expected

    group by 1

),

persons as (

    select
        experiment_id,
        sum(case when is_included then 1 else 0 end) as included_persons,
        sum(case when is_included then 0 else 1 end) as excluded_persons

    from assignments

    group by 1

),

joined as (

    select
        measured.*,
        adjusted.adjusted_p_value,
        adjusted.correction_method as adjustment_method,
        cuped_tests.cuped_diff,
        cuped_tests.cuped_se,
        cuped_tests.cuped_critical,
        cuped_tests.cuped_p_value,
        mann_whitney.mann_whitney_p_value,
        srm.srm_p_value,
        coalesce(persons.included_persons, 0) as included_persons,
        coalesce(persons.excluded_persons, 0) as excluded_persons,
        -- significant, and which way: judged on the adjusted p for primary metrics
        case
            when case when metric_role = 'primary' then adjusted.adjusted_p_value else measured.p_value end
                < measured.alpha
                and measured.diff <> 0
                then case
                    when (measured.diff > 0) = measured.is_higher_better then 'better' else 'worse'
                end
        end as direction

    from measured

    left join adjusted
        on
            measured.experiment_id = adjusted.experiment_id
            and measured.metric_name = adjusted.metric_name
            and measured.variant = adjusted.variant

    left join cuped_tests
        on
            measured.experiment_id = cuped_tests.experiment_id
            and measured.metric_name = cuped_tests.metric_name
            and measured.variant = cuped_tests.variant

    left join mann_whitney
        on
            measured.experiment_id = mann_whitney.experiment_id
            and measured.metric_name = mann_whitney.metric_name
            and measured.variant = mann_whitney.variant
            and measured.metric_kind = 'mean'

    left join srm
        on measured.experiment_id = srm.experiment_id

    left join persons
        on measured.experiment_id = persons.experiment_id

),

decisions as (

    select
        experiment_id,
        variant,
        max(srm_p_value) as srm_p_value,
        string_agg(
            case when direction = 'worse' then metric_role || ' ' || metric_name end, ', '
            order by metric_role <> 'primary', metric_name
        ) as worse,
        string_agg(
            case when direction = 'better' and metric_role = 'primary' then metric_role || ' ' || metric_name end,
            ', ' order by metric_name
        ) as better

    from joined

    group by 1, 2

),

final as (

    select
        cast(joined.experiment_id || '|' || joined.metric_name || '|' || joined.variant as text)
            as result_id,
        cast(joined.experiment_id as text) as experiment_id,
        cast(joined.metric_name as text) as metric_name,
        cast(joined.metric_role as text) as metric_role,
        cast(joined.metric_kind as text) as metric_kind,
        cast(joined.variant as text) as variant,
        cast(joined.control_variant as text) as control_variant,
        cast(joined.n_c as bigint) as n_control,
        cast(joined.n_t as bigint) as n_treatment,
        cast(joined.mean_c as double precision) as mean_control,
        cast(joined.mean_t as double precision) as mean_treatment,
        cast(case when joined.undefined_reason is null then joined.diff end as double precision)
            as absolute_lift,
        cast(case when joined.undefined_reason is null then joined.se end as double precision)
            as absolute_lift_std_error,
        cast(case when joined.undefined_reason is null and joined.se > 0
            then joined.diff - joined.critical * joined.se end as double precision)
            as absolute_lift_ci_lower,
        cast(case when joined.undefined_reason is null and joined.se > 0
            then joined.diff + joined.critical * joined.se end as double precision)
            as absolute_lift_ci_upper,
        cast(case when joined.relative_se is not null
            then joined.mean_t / joined.mean_c - 1 end as double precision) as relative_lift,
        cast(joined.mean_t / nullif(joined.mean_c, 0) - 1 - joined.critical * joined.relative_se
            as double precision) as relative_lift_ci_lower,
        cast(joined.mean_t / nullif(joined.mean_c, 0) - 1 + joined.critical * joined.relative_se
            as double precision) as relative_lift_ci_upper,
        cast(joined.test_method as text) as test_method,
        cast(joined.statistic as double precision) as test_statistic,
        cast(case when joined.undefined_reason is null then joined.df end as double precision)
            as degrees_of_freedom,
        cast(joined.p_value as double precision) as p_value,
        cast(joined.undefined_reason as text) as undefined_reason,
        cast(joined.mann_whitney_p_value as double precision) as mann_whitney_p_value,
        cast(joined.effect_size as double precision) as effect_size,
        cast(joined.effect_size_method as text) as effect_size_method,
        cast(joined.cuped_diff as double precision) as cuped_absolute_lift,
        cast(joined.cuped_diff - joined.cuped_critical * joined.cuped_se as double precision)
            as cuped_ci_lower,
        cast(joined.cuped_diff + joined.cuped_critical * joined.cuped_se as double precision)
            as cuped_ci_upper,
        cast(joined.cuped_p_value as double precision) as cuped_p_value,
        cast(joined.adjusted_p_value as double precision) as adjusted_p_value,
        cast(joined.adjustment_method as text) as adjustment_method,
        cast(joined.prob_beat_control as double precision) as prob_beat_control,
        cast(joined.srm_p_value as double precision) as srm_p_value,
        cast(joined.achieved_power as double precision) as achieved_power,
        cast(joined.alpha as double precision) as alpha,
        cast(joined.included_persons as bigint) as included_persons,
        cast(joined.excluded_persons as bigint) as excluded_persons,
        cast(case
            when decisions.srm_p_value < {{ srm_alpha }} then 'invalid_srm'
            when decisions.worse is not null then 'no_ship'
            when decisions.better is not null then 'ship'
            else 'inconclusive'
        end as text) as decision,
        cast(case
            when decisions.srm_p_value < {{ srm_alpha }}
                then 'sample ratio mismatch: srm_p_value < {{ srm_alpha }}'
            when decisions.worse is not null then 'significantly worse: ' || decisions.worse
            when decisions.better is not null then 'significantly better: ' || decisions.better
            else 'no primary metric significant at alpha'
        end as text) as decision_reason

    from joined

    inner join decisions
        on joined.experiment_id = decisions.experiment_id and joined.variant = decisions.variant

)

select * from final
