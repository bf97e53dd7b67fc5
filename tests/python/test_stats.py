"""Tests of llm_product_analytics.stats.

Four kinds of check, each asserting numbers that a wrong implementation would miss:
1. published worked examples (source cited next to each number);
2. independent references: statsmodels and scipy on the same data (1e-10 relative), and
   formulas recomputed here from raw data (linearisation, per-unit CUPED adjustment);
3. degenerate inputs: no exception, no infinity, None values with a non-empty `reason`;
4. simulations with fixed seeds: A/A false-positive rates and 95% CI coverage of a planted
   effect within binomial tolerance (3 standard errors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, tt_ind_solve_power, zt_ind_solve_power
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind

from llm_product_analytics import stats as st
from llm_product_analytics.stats import ArmSummary, RatioArmSummary

REL = 1e-10  # agreement required with an independent implementation of the same formula


def close(actual, expected, rel: float = REL, abs_: float = 0.0) -> bool:
    return actual is not None and math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


def assert_undefined(result) -> None:
    """Every numeric field is None, and the reason says why."""
    values = {k: v for k, v in vars(result).items() if k not in ("method", "reason")}
    assert all(v is None for v in values.values()), values
    assert isinstance(result.reason, str) and result.reason.strip()


def assert_no_inf(result) -> None:
    for key, value in vars(result).items():
        if isinstance(value, float):
            assert math.isfinite(value), (key, value)


# =========================================================================================
# 1. Published worked examples
# =========================================================================================

# Rosetta Code, task "Welch's t-test" (data sets d1..d8, x, y; d1/d2 and d3/d4 are the first
# two examples of Wikipedia's "Welch's t-test" article). The task states the two-sided
# p-values to 15 significant digits:
#   d1,d2 0.021378001462867   d3,d4 0.148841696605328   d5,d6 0.0359722710297968
#   d7,d8 0.090773324285671   x,y   0.0107515611497845
ROSETTA = [
    (
        [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4],
        [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4],
        0.021378001462867,
    ),
    (
        [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8],
        [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8]
        + [20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5, 21.8],
        0.148841696605328,
    ),
    (
        [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0],
        [28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7]
        + [23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3, 20.4, 24.0, 13.2],
        0.0359722710297968,
    ),
    (
        [30.02, 29.99, 30.11, 29.97, 30.01, 29.99],
        [29.89, 29.93, 29.72, 29.98, 30.02, 29.98],
        0.090773324285671,
    ),
    ([3.0, 4.0, 1.0, 2.1], [490.2, 340.0, 433.9], 0.0107515611497845),
]


@pytest.mark.parametrize("control, treatment, p_published", ROSETTA)
def test_welch_rosetta_code_p_values(control, treatment, p_published) -> None:
    res = st.welch_t_test_samples(control, treatment)
    assert close(res.p_value, p_published, rel=1e-12)
    # the test is symmetric: swapping the arms flips the sign only
    swapped = st.welch_t_test_samples(treatment, control)
    assert close(swapped.statistic, -res.statistic) and close(swapped.p_value, res.p_value)


def test_welch_wikipedia_example_1_rounded_values() -> None:
    # Wikipedia, "Welch's t-test", Examples, example 1: t = -2.46, p = 0.021 (A1 minus A2).
    a1, a2, _ = ROSETTA[0]
    res = st.welch_t_test_samples(a2, a1)  # treatment - control = A1 - A2
    assert round(res.statistic, 2) == -2.46
    assert round(res.p_value, 3) == 0.021


def test_cohens_d_and_t_lakens_2013_movie_example() -> None:
    # Lakens (2013), "Calculating and reporting effect sizes to facilitate cumulative
    # science", Front. Psychol. 4:863, movie ratings: M1 = 8.7 (SD 0.82), M2 = 7.7 (SD 0.95),
    # n = 10 each: t = 2.52, Cohen's d_s = 1.13.
    movie_2 = ArmSummary(10, 7.7, 0.95**2)
    movie_1 = ArmSummary(10, 8.7, 0.82**2)
    d = st.cohens_d(movie_2, movie_1)
    assert round(d.value, 2) == 1.13 and d.reason is None
    res = st.welch_t_test(movie_2, movie_1)
    assert round(res.statistic, 2) == 2.52  # equal n: Welch t equals Student's t
    # closed form of d: difference over the root of the average variance (equal n)
    assert close(d.value, 1.0 / math.sqrt((0.82**2 + 0.95**2) / 2), rel=1e-12)


def test_two_proportion_z_stated_example() -> None:
    # usablestats.com "Ask stats" question 866 (two-sample proportion test, computed step by
    # step): 118 / 3303 vs 80 / 3303, pooled p = .02997, SE = .004196, z = 2.742,
    # two-sided p = .00611.
    res = st.two_proportion_z_test(80, 3303, 118, 3303)
    assert round(res.statistic, 3) == 2.742
    assert round(res.p_value, 5) == 0.00611
    assert round(res.estimate, 4) == 0.0115


def test_two_proportion_wald_interval_openintro_cpr_example() -> None:
    # Introduction to Modern Statistics (Cetinkaya-Rundel & Hardin, OpenIntro), ch. "Inference
    # for comparing two proportions", CPR study: control 11/50, treatment 14/40 survived;
    # point estimate 0.13, SE = 0.095, 90% CI (-0.027, 0.287) (unpooled Wald).
    res = st.two_proportion_z_test(11, 50, 14, 40, alpha=0.10)
    assert round(res.estimate, 2) == 0.13
    assert round(res.std_error, 3) == 0.095
    assert round(res.ci_lower, 3) == -0.027 and round(res.ci_upper, 3) == 0.287


def test_cohens_h_cohen_1988_table() -> None:
    # Cohen (1988), Statistical Power Analysis for the Behavioral Sciences, 2nd ed., ch. 6,
    # Table 6.2.1: phi = 2 arcsin(sqrt(P)); phi(.50) = 1.571, phi(.65) = 1.875, so
    # h(.50, .65) = .30 (between "small" .20 and "medium" .50).
    h = st.cohens_h(0.50, 0.65)
    assert round(h.value, 2) == 0.30 and h.reason is None
    assert round(2 * math.asin(math.sqrt(0.65)), 3) == 1.875
    assert close(h.value, 2 * math.asin(math.sqrt(0.65)) - math.pi / 2, rel=1e-14)
    assert close(st.cohens_h(0.65, 0.50).value, -h.value)
    assert st.cohens_h(0.3, 0.3).value == 0.0


def test_holm_wikipedia_example() -> None:
    # Wikipedia, "Holm-Bonferroni method", Example: p = 0.01, 0.04, 0.03, 0.005 at
    # alpha = 0.05 rejects H1 and H4 only; adjusted p = 0.03, 0.06, 0.06, 0.02.
    adj = st.holm([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-12)
    assert [p <= 0.05 for p in adj] == [True, False, False, True]


# Benjamini & Hochberg (1995), J. R. Stat. Soc. B 57(1), section 4: the 15 p-values of the
# myocardial-infarction study. At q = 0.05 BH rejects the four smallest; the Bonferroni-type
# procedure (Holm/Hochberg) rejects only the three smallest.
BH_1995 = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
    0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000,
]  # fmt: skip


def test_benjamini_hochberg_1995_example() -> None:
    adj = st.benjamini_hochberg(BH_1995)
    assert sum(p <= 0.05 for p in adj) == 4
    assert all(p <= 0.05 for p in adj[:4]) and all(p > 0.05 for p in adj[4:])
    # adjusted p_(i) = min over k >= i of 15 p_(k) / k
    assert close(adj[3], 15 * 0.0095 / 4, rel=1e-12)
    assert close(adj[4], 15 * 0.0201 / 5, rel=1e-12)
    assert close(adj[5], 15 * 0.0298 / 7, rel=1e-12)  # step-up: smaller than 15 * .0278 / 6
    assert close(adj[6], 15 * 0.0298 / 7, rel=1e-12)
    assert close(adj[8], 15 * 0.0459 / 9, rel=1e-12)
    assert adj[14] == 1.0
    holm_adj = st.holm(BH_1995)
    assert sum(p <= 0.05 for p in holm_adj) == 3


def test_srm_kohavi_tang_xu_example() -> None:
    # Kohavi, Tang & Xu (2020), Trustworthy Online Controlled Experiments, ch. 3 (and ch. 21):
    # a 50/50 experiment with 821,588 control and 815,482 treatment users; "the p-value for
    # this split is 1.8E-6".
    res = st.srm_test([821_588, 815_482], [0.5, 0.5])
    assert res.df == 1 and res.reason is None
    assert f"{res.p_value:.1e}" == "1.8e-06"
    assert close(res.chi_square, 2 * 3053**2 / 818_535, rel=1e-12)


def test_sample_size_classic_case() -> None:
    # sigma = 1, delta = 0.5 (Cohen's d = 0.5), alpha = .05 two-sided, power = .8:
    # n = 2 (1.95996 + 0.84162)^2 / 0.25 = 62.79 -> 63 per arm by the z approximation;
    # Cohen (1988) Table 2.4.1 gives 64 per group for the t-test.
    assert st.sample_size_per_arm(1.0, 0.5) == 63
    assert st.sample_size_per_arm(4.0, 1.0) == 63  # only the ratio effect / sigma matters
    assert math.ceil(tt_ind_solve_power(effect_size=0.5, alpha=0.05, power=0.8)) == 64
    assert st.power_two_sided(0.5, math.sqrt(2 / 63)) >= 0.8
    assert st.power_two_sided(0.5, math.sqrt(2 / 62)) < 0.8


# =========================================================================================
# 2. Independent references
# =========================================================================================


def _skewed_pair(seed: int, n_c: int = 137, n_t: int = 211):
    rng = np.random.default_rng(seed)
    return rng.lognormal(0.0, 1.0, n_c), rng.lognormal(0.15, 1.3, n_t)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_matches_statsmodels_and_scipy(seed: int) -> None:
    c, t = _skewed_pair(seed)
    res = st.welch_t_test_samples(c, t, alpha=0.1)

    sm_t, sm_p, sm_df = sm_ttest_ind(t, c, usevar="unequal")
    sm_lo, sm_hi = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(
        alpha=0.1, usevar="unequal"
    )
    sp = sps.ttest_ind(t, c, equal_var=False)
    sp_ci = sp.confidence_interval(confidence_level=0.9)

    for ours, refs in [
        (res.statistic, [sm_t, sp.statistic]),
        (res.p_value, [sm_p, sp.pvalue]),
        (res.df, [sm_df, sp.df]),
        (res.ci_lower, [sm_lo, sp_ci.low]),
        (res.ci_upper, [sm_hi, sp_ci.high]),
        (res.estimate, [t.mean() - c.mean()]),
    ]:
        for ref in refs:
            assert close(ours, float(ref)), (ours, ref)

    # summaries and samples give the same answer
    from_summaries = st.welch_t_test(
        ArmSummary(c.size, c.mean(), c.var(ddof=1)),
        ArmSummary(t.size, t.mean(), t.var(ddof=1)),
        0.1,
    )
    assert from_summaries == res


def test_two_proportion_matches_statsmodels() -> None:
    for x_c, n_c, x_t, n_t in [(80, 3303, 118, 3303), (11, 50, 14, 40), (1234, 10000, 1301, 9876)]:
        res = st.two_proportion_z_test(x_c, n_c, x_t, n_t)
        z, p = proportions_ztest([x_t, x_c], [n_t, n_c])  # pooled variance under the null
        lo, hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
        assert close(res.statistic, z) and close(res.p_value, p)
        assert close(res.ci_lower, lo) and close(res.ci_upper, hi)


def test_holm_and_bh_match_statsmodels() -> None:
    rng = np.random.default_rng(7)
    p_sets = [
        BH_1995,
        list(rng.uniform(0, 1, 40)),
        list(np.concatenate([rng.uniform(0, 0.01, 10), rng.uniform(0, 1, 20)])),
        [0.02, 0.02, 0.5, 0.02, 0.001, 0.7, 0.7],  # ties
    ]
    for ps in p_sets:
        for ours, method in [(st.holm, "holm"), (st.benjamini_hochberg, "fdr_bh")]:
            ref = multipletests(ps, method=method)[1]
            assert np.allclose(ours(ps), ref, rtol=REL, atol=0), method


def test_holm_and_bh_ignore_none_entries() -> None:
    ps = [0.01, None, 0.04, 0.03, None, 0.005]
    present = [p for p in ps if p is not None]
    for ours, method in [(st.holm, "holm"), (st.benjamini_hochberg, "fdr_bh")]:
        adj = ours(ps)
        assert adj[1] is None and adj[4] is None
        ref = iter(multipletests(present, method=method)[1])
        assert all(close(a, next(ref), rel=1e-12) for a in adj if a is not None)
    assert st.holm([None, None]) == [None, None]
    assert st.benjamini_hochberg([]) == []


def test_power_and_planning_match_statsmodels() -> None:
    z_alpha = sps.norm.isf(0.025)
    for d, n in [(0.1, 100), (0.3, 63), (0.5, 63), (0.25, 1000)]:
        ours = st.power_two_sided(d, math.sqrt(2 / n))
        ref = NormalIndPower().power(effect_size=d, nobs1=n, alpha=0.05, alternative="two-sided")
        assert close(ours, ref)
    for d in [0.1, 0.3, 0.5]:
        n_sm = zt_ind_solve_power(effect_size=d, alpha=0.05, power=0.8)  # root finder
        assert st.sample_size_per_arm(1.0, d) == math.ceil(n_sm - 1e-6)
    # the MDE formula ignores the far rejection tail, so its exact power is
    # 0.8 + Phi(-(z_{1-a/2} + z_power) - z_{1-a/2}) (~1.1e-6 at the defaults)
    for n in [50, 200, 5000]:
        mde = st.mde_at_sample_size(1.0, n)
        exact_power = NormalIndPower().power(effect_size=mde, nobs1=n, alpha=0.05)
        far_tail = sps.norm.cdf(-(z_alpha + sps.norm.ppf(0.8)) - z_alpha)
        assert close(exact_power, 0.8 + far_tail)
        assert close(st.power_two_sided(mde, math.sqrt(2 / n)), 0.8 + far_tail)


def test_srm_matches_scipy_chisquare() -> None:
    obs, w = [5021, 4890, 10213], [1, 1, 2]
    res = st.srm_test(obs, w)
    ref = sps.chisquare(obs, f_exp=np.array(w) / 4 * sum(obs))
    assert res.df == 2 and close(res.chi_square, ref.statistic) and close(res.p_value, ref.pvalue)


def _ranks_and_tie_term(c: np.ndarray, t: np.ndarray):
    pooled = np.concatenate([c, t])
    ranks = sps.rankdata(pooled)  # average ranks over both arms
    tie_term = 0.0
    for value in set(pooled.tolist()):
        k = float(np.sum(pooled == value))
        tie_term += k**3 - k
    return float(ranks[c.size :].sum()), tie_term


@pytest.mark.parametrize("integer_data", [False, True])
def test_mann_whitney_from_ranks_equals_raw_and_scipy(integer_data: bool) -> None:
    rng = np.random.default_rng(11)
    for n_c, n_t, shift in [(30, 45, 0.0), (200, 150, 0.3), (7, 5, 1.0)]:
        c = rng.normal(0, 1, n_c)
        t = rng.normal(shift, 1, n_t)
        if integer_data:  # many ties
            c, t = np.round(c * 2), np.round(t * 2)
        rank_sum, tie_term = _ranks_and_tie_term(c, t)
        from_ranks = st.mann_whitney_from_ranks(rank_sum, n_c, n_t, tie_term)
        raw = st.mann_whitney(c, t)
        ref = sps.mannwhitneyu(t, c, alternative="two-sided", method="asymptotic")
        assert close(from_ranks.u_statistic, ref.statistic) and close(
            raw.u_statistic, ref.statistic
        )
        assert close(from_ranks.p_value, ref.pvalue) and close(raw.p_value, ref.pvalue)
        assert close(raw.z, from_ranks.z)
        # z is |standardised U| with the continuity correction
        assert close(2 * sps.norm.sf(from_ranks.z), ref.pvalue)


def _ratio_summary(y: np.ndarray, x: np.ndarray) -> RatioArmSummary:
    return RatioArmSummary(
        y.size, y.mean(), x.mean(), y.var(ddof=1), x.var(ddof=1), np.cov(y, x, ddof=1)[0, 1]
    )


def _ratio_units(rng, n, ctr, size=None):
    """Per-user sessions (denominator) and clicks (numerator): a per-user ratio metric."""
    shape = (n,) if size is None else (size, n)
    x = rng.poisson(3.0, shape) + 1
    y = rng.binomial(x, ctr)
    return y.astype(float), x.astype(float)


def test_ratio_delta_matches_linearisation_and_simulation() -> None:
    rng = np.random.default_rng(3)
    y_c, x_c = _ratio_units(rng, 800, 0.30)
    y_t, x_t = _ratio_units(rng, 900, 0.33)
    res = st.ratio_delta_test(_ratio_summary(y_c, x_c), _ratio_summary(y_t, x_t))

    # linearisation from raw units: var(R) = var((y - R x) / xbar) / n
    def lin_var(y, x):
        r = y.sum() / x.sum()
        return np.var((y - r * x) / x.mean(), ddof=1) / y.size

    assert close(res.estimate, y_t.sum() / x_t.sum() - y_c.sum() / x_c.sum())
    assert close(res.std_error, math.sqrt(lin_var(y_c, x_c) + lin_var(y_t, x_t)))
    assert close(res.p_value, 2 * sps.norm.sf(abs(res.estimate / res.std_error)))

    # brute force: the spread of sum(y)/sum(x) over 4000 simulated arms matches the
    # delta-method standard error (Monte Carlo error of an SD from 4000 draws ~1.1%)
    ys, xs = _ratio_units(np.random.default_rng(4), 400, 0.30, size=4000)
    ratios = ys.sum(axis=1) / xs.sum(axis=1)
    ses = [math.sqrt(st.ratio_variance(_ratio_summary(ys[i], xs[i]))) for i in range(0, 4000, 40)]
    assert abs(np.mean(ses) / ratios.std(ddof=1) - 1) < 0.04


def test_relative_lift_delta_method() -> None:
    m_c, se_c, m_t, se_t = 10.0, 0.2, 11.0, 0.25
    res = st.relative_lift(m_c, se_c, m_t, se_t)
    # gradient of g(a, b) = b / a - 1 is (-b / a^2, 1 / a)
    grad = np.array([-m_t / m_c**2, 1 / m_c])
    var = grad @ np.diag([se_c**2, se_t**2]) @ grad
    assert close(res.estimate, 0.1, rel=1e-12) and close(res.std_error, math.sqrt(var))
    assert close(res.ci_upper - res.estimate, sps.norm.isf(0.025) * res.std_error)
    with_df = st.relative_lift(m_c, se_c, m_t, se_t, df=12.0)
    assert with_df.df == 12.0 and close(with_df.p_value, 2 * sps.t.sf(res.statistic, 12.0))

    # brute force: ratio of two independent normal arm means (CV 2%): delta SE within 3%
    rng = np.random.default_rng(5)
    sim = rng.normal(m_t, se_t, 200_000) / rng.normal(m_c, se_c, 200_000) - 1
    assert abs(sim.std() / res.std_error - 1) < 0.03


def _cuped_data(rng, n, rho, lift):
    """Pre-period x and outcome y with corr(x, y) = rho, unit variances, y shifted by lift."""
    x = rng.normal(0, 1, n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(0, 1, n) + lift
    return x, y


def _cuped_inputs(x_c, y_c, x_t, y_t):
    return (
        st.summarise(y_c),
        st.summarise(y_t),
        st.summarise(x_c),
        st.summarise(x_t),
        float(np.cov(x_c, y_c, ddof=1)[0, 1]),
        float(np.cov(x_t, y_t, ddof=1)[0, 1]),
    )


def test_cuped_equals_welch_on_adjusted_units() -> None:
    rng = np.random.default_rng(21)
    x_c, y_c = _cuped_data(rng, 500, 0.6, 0.0)
    x_t, y_t = _cuped_data(rng, 650, 0.6, 0.1)
    res = st.cuped_welch_test(*_cuped_inputs(x_c, y_c, x_t, y_t))
    # theta from the pooled within-arm regression, then per-unit adjustment
    xc, xt = x_c - x_c.mean(), x_t - x_t.mean()
    theta = (xc @ (y_c - y_c.mean()) + xt @ (y_t - y_t.mean())) / (xc @ xc + xt @ xt)
    x_bar = np.concatenate([x_c, x_t]).mean()
    ref = sps.ttest_ind(y_t - theta * (x_t - x_bar), y_c - theta * (x_c - x_bar), equal_var=False)
    ci = ref.confidence_interval()
    assert res.method == "cuped_welch_t"
    assert close(res.statistic, ref.statistic) and close(res.p_value, ref.pvalue)
    assert close(res.df, ref.df) and close(res.ci_lower, ci.low) and close(res.ci_upper, ci.high)


def test_cuped_variance_reduction_is_one_minus_rho_squared() -> None:
    rng = np.random.default_rng(22)
    x_c, y_c = _cuped_data(rng, 20_000, 0.7, 0.0)
    x_t, y_t = _cuped_data(rng, 20_000, 0.7, 0.05)
    cuped = st.cuped_welch_test(*_cuped_inputs(x_c, y_c, x_t, y_t))
    plain = st.welch_t_test_samples(y_c, y_t)
    rho_hat = np.corrcoef(np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t]))[0, 1]
    reduction = (cuped.std_error / plain.std_error) ** 2
    assert abs(reduction - (1 - rho_hat**2)) < 0.01
    assert abs(reduction - (1 - 0.7**2)) < 0.02


def test_cuped_is_unbiased_and_covers() -> None:
    rng = np.random.default_rng(23)
    lift, n, sims = 0.2, 200, 1500
    estimates, covered = [], 0
    for _ in range(sims):
        x_c, y_c = _cuped_data(rng, n, 0.8, 0.0)
        x_t, y_t = _cuped_data(rng, n, 0.8, lift)
        # an imbalanced pre-period (chance) must not bias the adjusted estimate
        res = st.cuped_welch_test(*_cuped_inputs(x_c, y_c, x_t, y_t))
        estimates.append(res.estimate)
        covered += res.ci_lower <= lift <= res.ci_upper
    sd = np.std(estimates, ddof=1)
    assert abs(np.mean(estimates) - lift) < 3 * sd / math.sqrt(sims)
    assert abs(sd - math.sqrt(2 * (1 - 0.8**2) / n)) < 0.1 * sd  # 1 - rho^2 reduction
    assert abs(covered / sims - 0.95) < 3 * math.sqrt(0.95 * 0.05 / sims)


def test_cuped_with_independent_pre_period_is_plain_welch() -> None:
    rng = np.random.default_rng(24)
    x_c, y_c = _cuped_data(rng, 5000, 0.0, 0.0)
    x_t, y_t = _cuped_data(rng, 5000, 0.0, 0.05)
    cuped = st.cuped_welch_test(*_cuped_inputs(x_c, y_c, x_t, y_t))
    plain = st.welch_t_test_samples(y_c, y_t)
    assert abs(cuped.estimate - plain.estimate) < 0.1 * plain.std_error
    assert abs(cuped.std_error / plain.std_error - 1) < 0.005
    assert abs(cuped.p_value - plain.p_value) < 0.02


# =========================================================================================
# 3. Degenerate inputs: no exception, no infinity, None values with a reason
# =========================================================================================

ONE = ArmSummary(1, 3.0, 0.0)
CONST = ArmSummary(50, 3.0, 0.0)
EMPTY = st.summarise([])
GOOD = ArmSummary(50, 3.0, 1.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: st.welch_t_test(ONE, GOOD),
        lambda: st.welch_t_test(GOOD, EMPTY),
        lambda: st.welch_t_test(CONST, CONST),
        lambda: st.welch_t_test_samples([], []),
        lambda: st.welch_t_test_samples([1.0], [2.0, 3.0]),
        lambda: st.welch_t_test_samples([2.0, 2.0, 2.0], [5.0, 5.0]),
        lambda: st.cuped_welch_test(ONE, GOOD, ONE, GOOD, 0.0, 0.0),
        lambda: st.cuped_welch_test(GOOD, GOOD, CONST, CONST, 0.0, 0.0),
        # outcome exactly linear in the pre-period value: zero adjusted variance
        lambda: st.cuped_welch_test(GOOD, GOOD, GOOD, GOOD, 1.0, 1.0),
        lambda: st.two_proportion_z_test(0, 0, 5, 10),
        lambda: st.two_proportion_z_test(0, 100, 0, 100),
        lambda: st.two_proportion_z_test(100, 100, 50, 50),
        lambda: st.ratio_delta_test(
            RatioArmSummary(1, 1, 2, 0, 0, 0), RatioArmSummary(10, 1, 2, 1, 1, 0)
        ),
        lambda: st.ratio_delta_test(
            RatioArmSummary(10, 1, 0, 1, 0, 0), RatioArmSummary(10, 1, 2, 1, 1, 0)
        ),
        lambda: st.ratio_delta_test(
            RatioArmSummary(10, 1, 2, 0, 0, 0), RatioArmSummary(10, 1, 2, 0, 0, 0)
        ),
        lambda: st.relative_lift(0.0, 0.1, 1.0, 0.1),
        lambda: st.relative_lift(1.0, 0.0, 1.2, 0.0),
        lambda: st.relative_lift(float("nan"), 0.1, 1.0, 0.1),
        lambda: st.relative_lift(1.0, None, 1.0, 0.1),
        lambda: st.relative_lift(1.0, float("inf"), 1.0, 0.1),
        lambda: st.relative_lift(1e-200, 0.1, 1.0, 0.1),  # baseline indistinguishable from 0
    ],
)
def test_degenerate_comparisons_are_undefined(call) -> None:
    res = call()
    assert isinstance(res, st.Comparison)
    assert_undefined(res)


@pytest.mark.parametrize(
    "result",
    [
        st.cohens_d(ONE, GOOD),
        st.cohens_d(CONST, CONST),
        st.cohens_d(GOOD, EMPTY),
        st.cohens_h(-0.1, 0.5),
        st.cohens_h(0.5, 1.5),
        st.cohens_h(float("nan"), 0.5),
    ],
)
def test_degenerate_effect_sizes(result) -> None:
    assert result.value is None and result.reason


def test_degenerate_mann_whitney() -> None:
    for res in [
        st.mann_whitney([], [1.0, 2.0]),
        st.mann_whitney([1.0], []),
        st.mann_whitney_from_ranks(0.0, 0, 3, 0.0),
    ]:
        assert_undefined(res)
    # all values tied: U is defined (n_c n_t / 2) but z and p are not
    for res in [
        st.mann_whitney([4.0, 4.0, 4.0], [4.0, 4.0]),
        st.mann_whitney_from_ranks(2 * 3.0, 3, 2, 5.0**3 - 5.0),  # 5 tied values, mean rank 3
    ]:
        assert res.u_statistic == 3.0 and res.z is None and res.p_value is None
        assert res.reason
    # one value in each arm, distinct: defined, p = 1 after the continuity correction
    one_each = st.mann_whitney([1.0], [2.0])
    assert one_each.reason is None and one_each.p_value == 1.0


def test_degenerate_srm_and_planning() -> None:
    for res in [
        st.srm_test([100, 100], [1, 0]),
        st.srm_test([100], [1]),
        st.srm_test([0, 0], [1, 1]),
        st.srm_test([100, 100], [1, -1]),
    ]:
        assert_undefined(res)
    assert st.prob_beat_control(0.1, 0.0) is None
    assert st.prob_beat_control(None, 0.1) is None
    assert st.prob_beat_control(0.1, float("nan")) is None
    assert st.power_two_sided(0.1, 0.0) is None
    assert st.power_two_sided(None, 0.1) is None
    assert st.sample_size_per_arm(0.0, 0.1) is None
    assert st.sample_size_per_arm(1.0, 0.0) is None
    assert st.mde_at_sample_size(1.0, 0) is None
    assert st.mde_at_sample_size(0.0, 100) is None


def test_tiny_p_values_keep_their_precision() -> None:
    # z = 30: 2 * norm.sf(30) = 9.8e-198; 2 * (1 - norm.cdf(30)) would be exactly 0
    assert 2 * (1 - sps.norm.cdf(30.0)) == 0.0
    res = st.relative_lift(1.0, 0.0, 1.3, 0.01)
    assert res.statistic == pytest.approx(30.0, rel=1e-12)
    assert res.p_value > 0 and close(res.p_value, 2 * sps.norm.sf(res.statistic), rel=1e-12)
    assert f"{res.p_value:.1e}" == "9.8e-198"

    # the same through the t distribution (Welch) and the proportion and rank tests
    welch = st.welch_t_test(ArmSummary(1000, 0.0, 1.0), ArmSummary(1000, 1.5, 1.0))
    assert 0 < welch.p_value < 1e-150
    assert close(welch.p_value, 2 * sps.t.sf(welch.statistic, welch.df), rel=1e-12)
    prop = st.two_proportion_z_test(1000, 10_000, 1800, 10_000)
    assert 0 < prop.p_value < 1e-40 and close(prop.p_value, 2 * sps.norm.sf(prop.statistic))
    c, t = np.arange(300.0), np.arange(300.0) + 1000
    mw = st.mann_whitney(c, t)
    assert 0 < mw.p_value < 1e-90 and close(mw.p_value, 2 * sps.norm.sf(mw.z))
    srm = st.srm_test([54_743, 45_257], [1, 1])  # chi-square ~900
    assert 0 < srm.p_value < 1e-150 and close(srm.p_value, sps.chi2.sf(srm.chi_square, 1))


def test_extreme_but_valid_inputs_return_finite_numbers() -> None:
    for res in [
        st.welch_t_test(ArmSummary(2, 0.0, 1e-300), ArmSummary(2, 1.0, 1e-300)),
        st.two_proportion_z_test(0, 10**9, 1, 10**9),
        st.two_proportion_z_test(0, 10, 10, 10),  # unpooled SE 0: interval undefined, test not
        st.relative_lift(1e-9, 1e-12, 2e-9, 1e-12),
        st.relative_lift(1e100, 1e98, 1.1e100, 1e98),  # m_c^4 used to overflow (raised)
        st.ratio_delta_test(
            RatioArmSummary(2, 1, 1e-9, 1, 1, 0), RatioArmSummary(2, 1, 1, 1, 1, 0)
        ),
    ]:
        assert_no_inf(res)
    edge = st.two_proportion_z_test(0, 10, 10, 10)
    assert edge.p_value is not None and edge.ci_lower is None and edge.ci_upper is None


# =========================================================================================
# 4. Simulations (fixed seeds): A/A false-positive rate and CI coverage
# =========================================================================================

SIMS = 2000
FPR_TOL = 3 * math.sqrt(0.05 * 0.95 / SIMS)  # 0.0146
COVER_TOL = 3 * math.sqrt(0.95 * 0.05 / SIMS)


def _row_summaries(values: np.ndarray) -> list[ArmSummary]:
    n = values.shape[1]
    means, variances = values.mean(axis=1), values.var(axis=1, ddof=1)
    return [ArmSummary(n, m, v) for m, v in zip(means, variances, strict=True)]


def _row_ratio_summaries(y: np.ndarray, x: np.ndarray) -> list[RatioArmSummary]:
    n = y.shape[1]
    my, mx = y.mean(axis=1), x.mean(axis=1)
    cov = ((y - my[:, None]) * (x - mx[:, None])).sum(axis=1) / (n - 1)
    rows = zip(my, mx, y.var(axis=1, ddof=1), x.var(axis=1, ddof=1), cov, strict=True)
    return [RatioArmSummary(n, *r) for r in rows]


def test_aa_false_positive_rate_means_lognormal() -> None:
    rng = np.random.default_rng(101)
    c = _row_summaries(rng.lognormal(0.0, 1.0, (SIMS, 400)))
    t = _row_summaries(rng.lognormal(0.0, 1.0, (SIMS, 400)))
    p = np.array([st.welch_t_test(a, b).p_value for a, b in zip(c, t, strict=True)])
    assert abs(np.mean(p < 0.05) - 0.05) < FPR_TOL
    # p-values are roughly uniform, not just right at 0.05
    assert abs(np.mean(p < 0.2) - 0.2) < 3 * math.sqrt(0.2 * 0.8 / SIMS)


def test_aa_false_positive_rate_proportions() -> None:
    rng = np.random.default_rng(102)
    n = 3000
    x_c, x_t = rng.binomial(n, 0.08, SIMS), rng.binomial(n, 0.08, SIMS)
    p = np.array(
        [st.two_proportion_z_test(a, n, b, n).p_value for a, b in zip(x_c, x_t, strict=True)]
    )
    assert abs(np.mean(p < 0.05) - 0.05) < FPR_TOL


def test_aa_false_positive_rate_ratios() -> None:
    rng = np.random.default_rng(103)
    c = _row_ratio_summaries(*_ratio_units(rng, 300, 0.3, size=SIMS))
    t = _row_ratio_summaries(*_ratio_units(rng, 300, 0.3, size=SIMS))
    p = np.array([st.ratio_delta_test(a, b).p_value for a, b in zip(c, t, strict=True)])
    assert abs(np.mean(p < 0.05) - 0.05) < FPR_TOL


def test_aa_false_positive_rate_mann_whitney_with_ties() -> None:
    rng = np.random.default_rng(104)
    sims = 1000
    c = rng.poisson(2.0, (sims, 150)).astype(float)
    t = rng.poisson(2.0, (sims, 150)).astype(float)
    p = np.array([st.mann_whitney(c[i], t[i]).p_value for i in range(sims)])
    assert abs(np.mean(p < 0.05) - 0.05) < 3 * math.sqrt(0.05 * 0.95 / sims)


def test_ci_coverage_of_planted_lifts() -> None:
    rng = np.random.default_rng(105)
    n = 500
    # means: treatment = 1.05 x a lognormal(0, 1) control draw; true means e^0.5, 1.05 e^0.5
    m_c = math.exp(0.5)
    c = _row_summaries(rng.lognormal(0.0, 1.0, (SIMS, n)))
    t = _row_summaries(1.05 * rng.lognormal(0.0, 1.0, (SIMS, n)))
    abs_hits = rel_hits = 0
    for a, b in zip(c, t, strict=True):
        res = st.welch_t_test(a, b)
        abs_hits += res.ci_lower <= 0.05 * m_c <= res.ci_upper
        rel = st.relative_lift(
            a.mean, math.sqrt(a.variance / n), b.mean, math.sqrt(b.variance / n), df=res.df
        )
        rel_hits += rel.ci_lower <= 0.05 <= rel.ci_upper
    assert abs(abs_hits / SIMS - 0.95) < COVER_TOL
    assert abs(rel_hits / SIMS - 0.95) < COVER_TOL

    # proportions 0.10 -> 0.11 (Wald interval)
    x_c, x_t = rng.binomial(4000, 0.10, SIMS), rng.binomial(4000, 0.11, SIMS)
    hits = 0
    for a, b in zip(x_c, x_t, strict=True):
        res = st.two_proportion_z_test(a, 4000, b, 4000)
        hits += res.ci_lower <= 0.01 <= res.ci_upper
    assert abs(hits / SIMS - 0.95) < COVER_TOL

    # ratios: click-through 0.30 -> 0.33 per session
    rc = _row_ratio_summaries(*_ratio_units(rng, 400, 0.30, size=SIMS))
    rt = _row_ratio_summaries(*_ratio_units(rng, 400, 0.33, size=SIMS))
    hits = 0
    for a, b in zip(rc, rt, strict=True):
        res = st.ratio_delta_test(a, b)
        hits += res.ci_lower <= 0.03 <= res.ci_upper
    assert abs(hits / SIMS - 0.95) < COVER_TOL


# =========================================================================================
# 5. Probability to beat control
# =========================================================================================


def test_prob_beat_control() -> None:
    assert st.prob_beat_control(0.0, 1.0) == 0.5
    assert st.prob_beat_control(0.0, 1.0, higher_is_better=False) == 0.5
    assert close(st.prob_beat_control(1.959963984540054, 1.0), 0.975, rel=1e-12)
    for diff, se in [(0.3, 0.2), (-0.05, 0.01), (2.0, 7.0)]:
        up = st.prob_beat_control(diff, se)
        down = st.prob_beat_control(diff, se, higher_is_better=False)
        assert close(up + down, 1.0, rel=1e-12)
        assert close(up, 1 - st.prob_beat_control(-diff, se), rel=0, abs_=1e-15)
        assert close(down, st.prob_beat_control(-diff, se), rel=1e-12)
        assert (up > 0.5) == (diff > 0)
    # flat prior: P(beat) = 1 - p_one_sided, i.e. 1 - p_two_sided / 2 for a positive z test
    res = st.ratio_delta_test(
        RatioArmSummary(500, 0.9, 3.0, 1.0, 2.0, 0.8), RatioArmSummary(500, 1.0, 3.0, 1.1, 2.0, 0.8)
    )
    prob = st.prob_beat_control(res.estimate, res.std_error)
    assert close(prob, 1 - res.p_value / 2)
