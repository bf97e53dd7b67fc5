"""Statistics for A/B experiments: pure functions from summary statistics or raw samples.

Every function returns a named result and never raises on degenerate input: an undefined
result (n < 2, zero variance, zero baseline, ...) has null (None) values and a `reason`.
No function returns an infinity. p-values come from survival functions (`sf`), never from
`1 - cdf`, so tiny p-values keep their precision.

Conventions (the same in the PostgreSQL twin of the results model):
- Variances are sample variances (ddof = 1). Differences are treatment minus control.
- Means: Welch's unequal-variance t-test; the confidence interval uses the same t quantile
  with the Welch-Satterthwaite degrees of freedom.
- Proportions: two-proportion z-test with the pooled proportion for the p-value (the null is
  equal rates); the confidence interval is the unpooled Wald interval.
- Ratios (sum of numerators over sum of denominators per arm): delta-method variance of each
  arm's ratio, z-test and z interval.
- Relative lift = treatment / control - 1; its interval is the delta-method interval
  (first-order Taylor expansion, arms independent) with the same critical value as the
  absolute interval.
- Mann-Whitney U: two-sided, normal approximation with tie correction and continuity
  correction (scipy's `method="asymptotic"`), identical to ranks computed in SQL.
- Probability to beat control: flat prior, Gaussian posterior of the difference
  (Phi(diff / se)), as in GrowthBook's default Bayesian engine.
- Power and sample size: two-sided z approximation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

__all__ = [
    "Comparison",
    "EffectSize",
    "MannWhitney",
    "ArmSummary",
    "RatioArmSummary",
    "welch_t_test",
    "welch_t_test_samples",
    "two_proportion_z_test",
    "ratio_delta_test",
    "relative_lift",
    "cuped_welch_test",
    "cohens_d",
    "cohens_h",
    "mann_whitney",
    "mann_whitney_from_ranks",
    "prob_beat_control",
    "srm_test",
    "power_two_sided",
    "sample_size_per_arm",
    "mde_at_sample_size",
    "holm",
    "benjamini_hochberg",
    "summarise",
]


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control: estimate, its standard error and interval, the test."""

    estimate: float | None
    std_error: float | None
    ci_lower: float | None
    ci_upper: float | None
    statistic: float | None
    df: float | None  # None for z tests
    p_value: float | None
    method: str
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EffectSize:
    value: float | None
    method: str
    reason: str | None = None


@dataclass(frozen=True)
class MannWhitney:
    u_statistic: float | None
    z: float | None
    p_value: float | None
    method: str = "mann_whitney_asymptotic"
    reason: str | None = None


@dataclass(frozen=True)
class ArmSummary:
    """Sufficient statistics of one arm: n, mean and sample variance (ddof = 1)."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True)
class RatioArmSummary:
    """Per-person numerator y and denominator x of one arm (means, variances, covariance)."""

    n: int
    mean_num: float
    mean_den: float
    var_num: float
    var_den: float
    cov_num_den: float


def _undefined(method: str, reason: str) -> Comparison:
    return Comparison(None, None, None, None, None, None, None, method, reason)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _two_sided_p(stat: float, df: float | None) -> float:
    """2 * upper tail of |stat|, from the survival function."""
    if df is None:
        return float(min(1.0, 2.0 * sps.norm.sf(abs(stat))))
    return float(min(1.0, 2.0 * sps.t.sf(abs(stat), df)))


def _critical(alpha: float, df: float | None) -> float:
    """Two-sided critical value: the (1 - alpha/2) quantile, computed as isf(alpha/2)."""
    return float(sps.norm.isf(alpha / 2) if df is None else sps.t.isf(alpha / 2, df))


def _comparison(diff: float, se: float, df: float | None, alpha: float, method: str):
    if not _finite(diff, se) or se <= 0:
        return _undefined(method, "zero variance")
    stat = diff / se
    q = _critical(alpha, df)
    return Comparison(
        diff, se, diff - q * se, diff + q * se, stat, df, _two_sided_p(stat, df), method
    )


# ---------------------------------------------------------------- means


def summarise(values: Sequence[float] | np.ndarray) -> ArmSummary:
    """n, mean and ddof=1 variance of a sample (variance 0 when n < 2)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    mean = float(x.mean()) if n else float("nan")
    var = float(x.var(ddof=1)) if n >= 2 else 0.0
    return ArmSummary(n, mean, var)


def welch_t_test(control: ArmSummary, treatment: ArmSummary, alpha: float = 0.05) -> Comparison:
    """Welch's t-test of mean(treatment) - mean(control); CI with Welch-Satterthwaite df."""
    method = "welch_t"
    if control.n < 2 or treatment.n < 2:
        return _undefined(method, "fewer than 2 units in an arm")
    a = control.variance / control.n
    b = treatment.variance / treatment.n
    if a + b <= 0:
        return _undefined(method, "zero variance")
    # (a + b)^2 / (a^2 / (n_c - 1) + b^2 / (n_t - 1)), written with the shares of a + b so
    # that squares of tiny variances cannot underflow to 0 / 0 (ZeroDivisionError).
    wa, wb = a / (a + b), b / (a + b)
    df = 1 / (wa**2 / (control.n - 1) + wb**2 / (treatment.n - 1))
    return _comparison(treatment.mean - control.mean, math.sqrt(a + b), df, alpha, method)


def welch_t_test_samples(control, treatment, alpha: float = 0.05) -> Comparison:
    """Welch's t-test from raw samples (see `welch_t_test`)."""
    return welch_t_test(summarise(control), summarise(treatment), alpha)


def cuped_welch_test(
    control: ArmSummary,
    treatment: ArmSummary,
    control_pre: ArmSummary,
    treatment_pre: ArmSummary,
    control_cov: float,
    treatment_cov: float,
    alpha: float = 0.05,
) -> Comparison:
    """CUPED: Welch's t-test on y - theta * (x - mean x), x the pre-exposure value.

    theta = pooled within-arm covariance(x, y) / pooled within-arm variance(x) (both ddof=1,
    pooled by n - 1). The overall mean of x cancels in the difference, so the adjusted
    difference is (ybar_t - ybar_c) - theta * (xbar_t - xbar_c), and each arm's adjusted
    variance is var(y) - 2 theta cov(x, y) + theta^2 var(x). `*_cov` are ddof=1 covariances.
    """
    method = "cuped_welch_t"
    if control.n < 2 or treatment.n < 2:
        return _undefined(method, "fewer than 2 units in an arm")
    m2_x = (control.n - 1) * control_pre.variance + (treatment.n - 1) * treatment_pre.variance
    if m2_x <= 0:
        return _undefined(method, "zero pre-period variance")
    theta = ((control.n - 1) * control_cov + (treatment.n - 1) * treatment_cov) / m2_x

    def adjusted(y: ArmSummary, x: ArmSummary, cov: float) -> ArmSummary:
        var = y.variance - 2 * theta * cov + theta**2 * x.variance
        return ArmSummary(y.n, y.mean - theta * x.mean, max(var, 0.0))

    return _replace_method(
        welch_t_test(
            adjusted(control, control_pre, control_cov),
            adjusted(treatment, treatment_pre, treatment_cov),
            alpha,
        ),
        method,
    )


def _replace_method(c: Comparison, method: str) -> Comparison:
    return Comparison(**{**c.as_dict(), "method": method})


# ---------------------------------------------------------------- proportions


def two_proportion_z_test(
    control_successes: float,
    control_n: int,
    treatment_successes: float,
    treatment_n: int,
    alpha: float = 0.05,
) -> Comparison:
    """z-test of p_t - p_c: pooled proportion under the null for the p-value, unpooled
    (Wald) standard error for the interval. `std_error` is the unpooled one."""
    method = "two_proportion_z"
    if control_n < 1 or treatment_n < 1:
        return _undefined(method, "an arm is empty")
    p_c = control_successes / control_n
    p_t = treatment_successes / treatment_n
    pooled = (control_successes + treatment_successes) / (control_n + treatment_n)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / treatment_n))
    se = math.sqrt(p_c * (1 - p_c) / control_n + p_t * (1 - p_t) / treatment_n)
    if se_null <= 0:
        return _undefined(method, "zero variance")
    diff = p_t - p_c
    stat = diff / se_null
    q = _critical(alpha, None)
    lower, upper = (diff - q * se, diff + q * se) if se > 0 else (None, None)
    return Comparison(diff, se, lower, upper, stat, None, _two_sided_p(stat, None), method)


# ---------------------------------------------------------------- ratios


def ratio_variance(arm: RatioArmSummary) -> float | None:
    """Delta-method variance of sum(y) / sum(x) for one arm (None when undefined)."""
    if arm.n < 2 or arm.mean_den == 0:
        return None
    r = arm.mean_num / arm.mean_den
    var = (arm.var_num - 2 * r * arm.cov_num_den + r**2 * arm.var_den) / (arm.n * arm.mean_den**2)
    return max(var, 0.0)


def ratio_delta_test(
    control: RatioArmSummary, treatment: RatioArmSummary, alpha: float = 0.05
) -> Comparison:
    """z-test of ratio_t - ratio_c with delta-method variances (arms independent)."""
    method = "delta_method_z"
    var_c, var_t = ratio_variance(control), ratio_variance(treatment)
    if var_c is None or var_t is None:
        return _undefined(method, "fewer than 2 units or zero denominator in an arm")
    diff = treatment.mean_num / treatment.mean_den - control.mean_num / control.mean_den
    return _comparison(diff, math.sqrt(var_c + var_t), None, alpha, method)


# ---------------------------------------------------------------- lifts and effect sizes


def relative_lift(
    control_mean: float,
    control_se: float,
    treatment_mean: float,
    treatment_se: float,
    alpha: float = 0.05,
    df: float | None = None,
) -> Comparison:
    """treatment / control - 1 with a delta-method interval:
    var = se_t^2 / m_c^2 + m_t^2 se_c^2 / m_c^4; critical value from t(df) or z."""
    method = "delta_method"
    if not _finite(control_mean, treatment_mean, control_se, treatment_se):
        return _undefined(method, "undefined arm mean or standard error")
    if control_mean == 0:
        return _undefined(method, "zero baseline")
    ratio = treatment_mean / control_mean
    rel = ratio - 1
    # se_t^2 / m_c^2 + m_t^2 se_c^2 / m_c^4 without powers of m_c, which underflow to 0
    # (ZeroDivisionError) or overflow (OverflowError) for a baseline near 0.
    u, v = treatment_se / control_mean, ratio * control_se / control_mean
    var = u * u + v * v
    if not math.isfinite(var):
        return _undefined(method, "baseline too close to zero")
    if var <= 0:
        return _undefined(method, "zero variance")
    return _comparison(rel, math.sqrt(var), df, alpha, method)


def cohens_d(control: ArmSummary, treatment: ArmSummary) -> EffectSize:
    """(mean_t - mean_c) / pooled standard deviation (ddof = 1 in each arm)."""
    method = "cohens_d"
    if control.n < 2 or treatment.n < 2:
        return EffectSize(None, method, "fewer than 2 units in an arm")
    pooled = ((control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance) / (
        control.n + treatment.n - 2
    )
    if pooled <= 0:
        return EffectSize(None, method, "zero variance")
    return EffectSize((treatment.mean - control.mean) / math.sqrt(pooled), method)


def cohens_h(control_rate: float, treatment_rate: float) -> EffectSize:
    """2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))."""
    method = "cohens_h"
    if not _finite(control_rate, treatment_rate) or not (
        0 <= control_rate <= 1 and 0 <= treatment_rate <= 1
    ):
        return EffectSize(None, method, "rate outside [0, 1]")
    value = 2 * math.asin(math.sqrt(treatment_rate)) - 2 * math.asin(math.sqrt(control_rate))
    return EffectSize(value, method)


# ---------------------------------------------------------------- rank test


def mann_whitney_from_ranks(
    rank_sum_treatment: float, n_control: int, n_treatment: int, tie_term: float
) -> MannWhitney:
    """Two-sided Mann-Whitney U test from the treatment arm's rank sum (average ranks over
    both arms pooled) and the tie term sum(t^3 - t) over groups of tied values.

    U = R_t - n_t (n_t + 1) / 2; z = (|U - n_c n_t / 2| - 0.5) / sigma with
    sigma^2 = n_c n_t / 12 * ((N + 1) - tie_term / (N (N - 1))). Equals scipy's
    mannwhitneyu(method="asymptotic", use_continuity=True)."""
    if n_control < 1 or n_treatment < 1:
        return MannWhitney(None, None, None, reason="an arm is empty")
    n = n_control + n_treatment
    u = rank_sum_treatment - n_treatment * (n_treatment + 1) / 2
    var = n_control * n_treatment / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        return MannWhitney(u, None, None, reason="all values tied")
    z = (abs(u - n_control * n_treatment / 2) - 0.5) / math.sqrt(var)
    z = max(z, 0.0)
    return MannWhitney(u, z, float(min(1.0, 2 * sps.norm.sf(z))))


def mann_whitney(control, treatment) -> MannWhitney:
    """Two-sided Mann-Whitney U test from raw samples (scipy, asymptotic with tie and
    continuity corrections). `u_statistic` is the treatment arm's U."""
    c = np.asarray(control, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if c.size < 1 or t.size < 1:
        return MannWhitney(None, None, None, reason="an arm is empty")
    pooled = np.concatenate([c, t])
    if np.all(pooled == pooled[0]):
        u = t.size * c.size / 2
        return MannWhitney(u, None, None, reason="all values tied")
    res = sps.mannwhitneyu(t, c, alternative="two-sided", method="asymptotic", use_continuity=True)
    ranks = sps.rankdata(pooled)
    _, counts = np.unique(pooled, return_counts=True)
    tie_term = float(np.sum(counts.astype(float) ** 3 - counts))
    z = mann_whitney_from_ranks(float(ranks[c.size :].sum()), c.size, t.size, tie_term).z
    return MannWhitney(float(res.statistic), z, float(res.pvalue))


# ---------------------------------------------------------------- decisions and planning


def prob_beat_control(diff: float | None, se: float | None, higher_is_better: bool = True):
    """P(treatment better than control) under a flat prior: Phi(diff / se), mirrored when
    lower is better. None when undefined."""
    if not _finite(diff, se) or se <= 0:
        return None
    z = diff / se if higher_is_better else -diff / se
    return float(sps.norm.cdf(z))


@dataclass(frozen=True)
class SrmResult:
    chi_square: float | None
    df: int | None
    p_value: float | None
    reason: str | None = None


def srm_test(observed: Sequence[float], weights: Sequence[float]) -> SrmResult:
    """Sample ratio mismatch: chi-square goodness of fit of the observed units per variant
    against the planned weights (normalised), df = variants - 1."""
    obs = np.asarray(observed, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = obs.sum()
    if obs.size < 2 or total <= 0 or np.any(w <= 0):
        return SrmResult(None, None, None, "fewer than 2 variants, no units or a zero weight")
    expected = total * w / w.sum()
    chi = float(np.sum((obs - expected) ** 2 / expected))
    df = int(obs.size - 1)
    return SrmResult(chi, df, float(sps.chi2.sf(chi, df)))


def power_two_sided(effect: float | None, se: float | None, alpha: float = 0.05):
    """Power of the two-sided z-test to detect an absolute effect given the standard error:
    Phi(|d|/se - z) + Phi(-|d|/se - z), z = (1 - alpha/2) quantile."""
    if not _finite(effect, se) or se <= 0:
        return None
    z = sps.norm.isf(alpha / 2)
    k = abs(effect) / se
    return float(sps.norm.sf(z - k) + sps.norm.cdf(-k - z))


def sample_size_per_arm(variance: float, effect: float, alpha: float = 0.05, power: float = 0.8):
    """Units per arm for a two-sided z-test, equal arms with the same per-unit variance:
    n = 2 variance (z_{1-alpha/2} + z_{power})^2 / effect^2, rounded up."""
    if not _finite(variance, effect) or variance <= 0 or effect == 0:
        return None
    z = sps.norm.isf(alpha / 2) + sps.norm.ppf(power)
    return int(math.ceil(2 * variance * z**2 / effect**2))


def mde_at_sample_size(variance: float, n_per_arm: float, alpha: float = 0.05, power: float = 0.8):
    """Smallest absolute effect detectable with the given power at n units per arm."""
    if not _finite(variance, n_per_arm) or variance <= 0 or n_per_arm <= 0:
        return None
    z = sps.norm.isf(alpha / 2) + sps.norm.ppf(power)
    return float(z * math.sqrt(2 * variance / n_per_arm))


# ---------------------------------------------------------------- multiple testing


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (None entries stay None and do not count)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: (p_values[i], i))):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    running = 1.0
    ordered = sorted(idx, key=lambda i: (p_values[i], i))
    for rank in range(m - 1, -1, -1):
        i = ordered[rank]
        running = min(running, m * p_values[i] / (rank + 1))
        out[i] = running
    return out
