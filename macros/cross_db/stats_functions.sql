{#- Statistics functions for PostgreSQL, which has no erf, lgamma or distribution functions:
    the SQL twin of the experiment results model needs normal, Student t and chi-square tails
    and quantiles that agree with scipy (used on DuckDB) to ~1e-9 relative.

    Public: lpa_ln_gamma, lpa_gamma_p, lpa_gamma_q, lpa_betai, lpa_norm_sf, lpa_norm_cdf,
    lpa_norm_ppf, lpa_t_sf, lpa_t_ppf, lpa_chi2_sf. Helpers: lpa_log1p, lpa_exp,
    lpa_stirling_corr, lpa_ln_beta, lpa_gamma_series_p, lpa_gamma_cf_q, lpa_betai_cf,
    lpa_betai_bgrat, lpa_betai_xy, lpa_t_ln_pdf.

    Rules every function keeps:
    - null, never an error, for null or invalid input, for shape parameters (a, b, df)
      outside [1e-10, 1e20] (t above 1e20 degrees of freedom is the normal), for results
      beyond the double range and for an iteration that does not converge. PostgreSQL
      raises on float underflow and overflow, ln(0) and division by zero, so every such
      operation is guarded; exception blocks are no way out: they open subtransactions,
      which parallel workers cannot.
    - tails keep their relative precision: upper tails are computed directly (continued
      fractions), never as 1 - cdf, and small results are assembled in log space.
    Algorithms: Lanczos (Numerical Recipes 3rd ed. gammln) with a zeta series near the roots
    at 1 and 2; Numerical Recipes gser/gcf and betacf (modified Lentz, at most 1000 terms);
    DiDonato-Morris BGRAT for large a and small b; Acklam's inverse normal with Halley
    steps; safeguarded Newton for the t quantile.
    Tested against scipy in tests/python/test_pg_stats_functions.py. -#}
{% macro lpa_create_stats_udfs() -%}
    {{ return(adapter.dispatch('lpa_create_stats_udfs')()) }}
{%- endmacro %}

{% macro default__lpa_create_stats_udfs() -%}
    select 1
{%- endmacro %}

{% macro postgres__lpa_create_stats_udfs() -%}
{%- set s = target.schema -%}
create schema if not exists {{ s }};

-- ln(1 + x) without cancellation for small x (Goldberg's trick): PostgreSQL has no log1p.
create or replace function {{ s }}.lpa_log1p(x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    u double precision;
begin
    if x <= -1 or x = 'NaN' then
        return null;
    end if;
    if x = 'Infinity' then
        return x;
    end if;
    u := 1 + x;
    if u = 1 then
        return x;
    end if;
    return ln(u) * (x / (u - 1));
end
$lpa$;

-- exp() that returns 0 instead of raising on underflow (PostgreSQL errors where C gives 0).
create or replace function {{ s }}.lpa_exp(x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    if x = 'NaN' or x > 709 then
        return null;
    end if;
    if x < -745 then
        return 0;
    end if;
    return exp(x);
end
$lpa$;

-- ln gamma(x), x > 0. Lanczos (NR3 gammln, 14 terms) loses relative precision near its
-- roots x = 1 and x = 2, so on [0.5, 2.5] use ln gamma(2 + z) = (1 - euler) z
-- + sum_k>=2 (-1)^k (zeta(k) - 1) z^k / k and ln gamma(1 + z) = that - log1p(z).
create or replace function {{ s }}.lpa_ln_gamma(x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    cof constant double precision[] := array[
        57.1562356658629235, -59.5979603554754912, 14.1360979747417471,
        -0.491913816097620199, .339946499848118887e-4, .465236289270485756e-4,
        -.983744753048795646e-4, .158088703224912494e-3, -.210264441724104883e-3,
        .217439618115212643e-3, -.164318106536763890e-3, .844182239838527433e-4,
        -.261908384015814087e-4, .368991826595316234e-5]::double precision[];
    -- (-1)^k (zeta(k) - 1) / k for k = 2..28 (scipy.special.zetac(k) / k)
    zc constant double precision[] := array[
        0.3224670334241132, -0.0673523010531981, 0.020580808427784546,
        -0.007385551028673986, 0.0028905103307415234, -0.001192753911703261,
        0.0005096695247430425, -0.00022315475845357936, 9.945751278180853e-05,
        -4.492623673813314e-05, 2.0507212775670694e-05, -9.439488275268395e-06,
        4.374866789907487e-06, -2.039215753801366e-06, 9.55141213040742e-07,
        -4.492469198764566e-07, 2.1207184805554667e-07, -1.00432248239681e-07,
        4.769810169363981e-08, -2.2711094608943164e-08, 1.0838659214896955e-08,
        -5.183475041970047e-09, 2.4836745438024785e-09, -1.1921401405860912e-09,
        5.731367241678862e-10, -2.7595228851242334e-10, 1.3304764374244491e-10
    ]::double precision[];
    one_minus_euler constant double precision := 1 - 0.5772156649015329;
    z double precision;
    acc double precision := 0;
    y double precision;
    tmp double precision;
    ser double precision;
begin
    if x <= 0 or x = 'NaN' then
        return null;
    end if;
    if x > 1e300 then
        return 'Infinity';
    end if;
    if x < 1e-300 then
        return -ln(x);  -- ln gamma(x) = -ln x - euler x + O(x^2)
    end if;
    if x >= 0.5 and x <= 2.5 then
        z := case when x < 1.5 then x - 1 else x - 2 end;  -- exact
        for k in reverse array_length(zc, 1)..1 loop
            acc := acc * z + zc[k];
        end loop;
        acc := z * (one_minus_euler + z * acc);
        if x < 1.5 then
            acc := acc - {{ s }}.lpa_log1p(z);
        end if;
        return acc;
    end if;
    y := x;
    tmp := x + 5.24218750000000000;
    tmp := (x + 0.5) * ln(tmp) - tmp;
    ser := 0.999999999999997092;
    for j in 1..14 loop
        y := y + 1;
        ser := ser + cof[j] / y;
    end loop;
    return tmp + ln(2.5066282746310005 * (ser / x));
end
$lpa$;

-- ln gamma(x) - ((x - 1/2) ln x - x + ln(2 pi) / 2) for x >= 10 (Stirling series).
create or replace function {{ s }}.lpa_stirling_corr(x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    z double precision;
    z2 double precision;
begin
    if x < 10 or x = 'NaN' then
        return null;
    end if;
    if x > 1e7 then
        return 1 / (12 * x);
    end if;
    z := 1 / x;
    z2 := z * z;
    return z * (1.0::double precision / 12 + z2 * (-1.0::double precision / 360
        + z2 * (1.0::double precision / 1260 + z2 * (-1.0::double precision / 1680
        + z2 * (1.0::double precision / 1188 + z2 * (-691.0::double precision / 360360
        + z2 * (1.0::double precision / 156)))))));
end
$lpa$;

-- ln beta(a, b). ln gamma(a) + ln gamma(b) - ln gamma(a + b) cancels catastrophically when
-- one argument is large (t with df = 1e6: three terms of 6e6 for a result of 7), so large
-- arguments use Stirling's form with log1p and the small correction terms.
create or replace function {{ s }}.lpa_ln_beta(a double precision, b double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    lo double precision := least(a, b);
    hi double precision := greatest(a, b);
    d double precision;
begin
    if lo <= 0 or a = 'NaN' or b = 'NaN' or hi > 1e20 then
        return null;
    end if;
    if lo < 1e-280 then
        return -ln(lo);  -- beta(a, b) = 1 / a + O(1) for tiny a
    end if;
    if hi < 10 then
        return {{ s }}.lpa_ln_gamma(lo) + {{ s }}.lpa_ln_gamma(hi) - {{ s }}.lpa_ln_gamma(lo + hi);
    end if;
    -- ln gamma(hi) - ln gamma(lo + hi)
    d := -(hi - 0.5) * {{ s }}.lpa_log1p(lo / hi) - lo * ln(lo + hi) + lo
        + {{ s }}.lpa_stirling_corr(hi) - {{ s }}.lpa_stirling_corr(lo + hi);
    if lo < 10 then
        return {{ s }}.lpa_ln_gamma(lo) + d;
    end if;
    return 0.5 * ln(2 * pi()) - 0.5 * ln(lo) - lo * {{ s }}.lpa_log1p(hi / lo)
        - (hi - 0.5) * {{ s }}.lpa_log1p(lo / hi) + {{ s }}.lpa_stirling_corr(lo)
        + {{ s }}.lpa_stirling_corr(hi) - {{ s }}.lpa_stirling_corr(lo + hi);
end
$lpa$;

-- P(a, x) by its series; converges fast for x < a + 1 (the callers' region).
create or replace function {{ s }}.lpa_gamma_series_p(a double precision, x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    ap double precision := a;
    del double precision;
    total double precision;
    converged boolean := false;
begin
    if x < 1e-280 then
        -- first term only: x / ap below would underflow, and the rest is O(x) relative
        return least(1, {{ s }}.lpa_exp(a * ln(x) - {{ s }}.lpa_ln_gamma(a + 1)));
    end if;
    del := 1 / a;
    total := del;
    for n in 1..1000 loop
        ap := ap + 1;
        del := del * (x / ap);
        total := total + del;
        if abs(del) < abs(total) * 1e-15 then
            converged := true;
            exit;
        end if;
    end loop;
    if not converged then
        return null;
    end if;
    return least(1, {{ s }}.lpa_exp(a * ln(x) - x - {{ s }}.lpa_ln_gamma(a) + ln(total)));
end
$lpa$;

-- Q(a, x) by its continued fraction (modified Lentz); converges fast for x >= a + 1. The
-- prefactor is applied in log space, so far tails (2e-45 and below) keep their precision.
create or replace function {{ s }}.lpa_gamma_cf_q(a double precision, x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    fpmin constant double precision := 1e-280;
    ln_front double precision := a * ln(x) - x - {{ s }}.lpa_ln_gamma(a);
    an double precision;
    b double precision;
    c double precision;
    d double precision;
    h double precision;
    del double precision;
    converged boolean := false;
begin
    if ln_front < -745 then
        return 0;  -- below the smallest double: the fraction is at most about 1
    end if;
    b := x + 1 - a;
    c := 1 / fpmin;
    d := 1 / b;
    h := d;
    for i in 1..1000 loop
        an := -i * (i - a);
        b := b + 2;
        d := an * d + b;
        if abs(d) < fpmin then
            d := fpmin;
        end if;
        c := b + an / c;
        if abs(c) < fpmin then
            c := fpmin;
        end if;
        d := 1 / d;
        del := d * c;
        h := h * del;
        if abs(del - 1) < 1e-15 then
            converged := true;
            exit;
        end if;
    end loop;
    if not converged then
        return null;
    end if;
    return least(1, {{ s }}.lpa_exp(ln_front + ln(h)));
end
$lpa$;

-- Regularized lower incomplete gamma P(a, x).
create or replace function {{ s }}.lpa_gamma_p(a double precision, x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    if a < 1e-10 or a > 1e20 or a = 'NaN' or x < 0 or x = 'NaN' then
        return null;
    end if;
    if x = 0 then
        return 0;
    end if;
    if x = 'Infinity' then
        return 1;
    end if;
    if x < a + 1 and (a >= 0.5 or x < 0.5) then
        return {{ s }}.lpa_gamma_series_p(a, x);
    end if;
    return 1 - {{ s }}.lpa_gamma_cf_q(a, x);
end
$lpa$;

-- Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x); scipy.special.gammaincc.
create or replace function {{ s }}.lpa_gamma_q(a double precision, x double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    if a < 1e-10 or a > 1e20 or a = 'NaN' or x < 0 or x = 'NaN' then
        return null;
    end if;
    if x = 0 then
        return 1;
    end if;
    if x = 'Infinity' then
        return 0;
    end if;
    -- below a + 1, Q < 0.1 only for a < 1/2: there the fraction (which converges for
    -- x > 0) keeps the digits that 1 - P would lose
    if x < a + 1 and (a >= 0.5 or x < 0.5) then
        return 1 - {{ s }}.lpa_gamma_series_p(a, x);
    end if;
    return {{ s }}.lpa_gamma_cf_q(a, x);
end
$lpa$;

-- I_x(a, b) by the continued fraction alone (NR betacf, modified Lentz), y = 1 - x given
-- separately so that neither side loses digits when the other is near 1. Converges fast
-- for x < (a + 1) / (a + b + 2); lpa_betai_xy picks the side.
create or replace function {{ s }}.lpa_betai_cf(
    a double precision, b double precision, x double precision, y double precision
)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    fpmin constant double precision := 1e-280;
    ln_front double precision;
    qab double precision := a + b;
    qap double precision := a + 1;
    qam double precision := a - 1;
    aa double precision;
    c double precision := 1;
    d double precision;
    h double precision;
    del double precision;
    m2 double precision;
    converged boolean := false;
begin
    -- a ln x + b ln y; a term below 1e-180 is dropped (its product could underflow)
    ln_front := (case when y < 1e-200 then 0
            when x <= 0.5 then a * ln(x) else a * {{ s }}.lpa_log1p(-y) end)
        + (case when x < 1e-200 then 0
            when y <= 0.5 then b * ln(y) else b * {{ s }}.lpa_log1p(-x) end)
        - {{ s }}.lpa_ln_beta(a, b) - ln(a);
    if x < 1e-200 then
        -- the fraction is 1 + O(x (a + b)); its terms could underflow
        return least(1, {{ s }}.lpa_exp(ln_front));
    end if;
    d := 1 - qab * x / qap;
    if abs(d) < fpmin then
        d := fpmin;
    end if;
    d := 1 / d;
    h := d;
    for m in 1..1000 loop
        m2 := 2 * m;
        aa := m * (b - m) * x / ((qam + m2) * (a + m2));
        d := 1 + aa * d;
        if abs(d) < fpmin then
            d := fpmin;
        end if;
        c := 1 + aa / c;
        if abs(c) < fpmin then
            c := fpmin;
        end if;
        d := 1 / d;
        h := h * d * c;
        aa := -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d := 1 + aa * d;
        if abs(d) < fpmin then
            d := fpmin;
        end if;
        c := 1 + aa / c;
        if abs(c) < fpmin then
            c := fpmin;
        end if;
        d := 1 / d;
        del := d * c;
        h := h * del;
        if abs(del - 1) < 1e-15 then
            converged := true;
            exit;
        end if;
    end loop;
    if not converged or h <= 0 then
        return null;
    end if;
    return least(1, {{ s }}.lpa_exp(ln_front + ln(h)));
end
$lpa$;

-- I_x(a, b) for large a and b <= 1 near x = 1: DiDonato and Morris's asymptotic expansion
-- (BGRAT, as in Boost's beta_small_b_large_a_series) in terms of Q(b, u). There the
-- continued fraction cancels to ~1/a and loses a * 1e-16 relative precision (the t
-- distribution with df = 1e7 lost 4e-10).
create or replace function {{ s }}.lpa_betai_bgrat(
    a double precision, b double precision, x double precision, y double precision
)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    bm1 double precision := b - 1;
    t double precision := a + 0.5 * (b - 1);
    lx double precision;
    lx2 double precision;
    lxp double precision := 1;
    u double precision;
    ln_h double precision;
    ln_k double precision;
    q double precision;
    j double precision;
    total double precision;
    t4 double precision;
    b2n double precision := b;
    pn double precision;
    r double precision;
    p double precision[] := array[1]::double precision[];
    odd_fact double precision[] := array[1]::double precision[];  -- (2k - 1)!
begin
    lx := case when y < 0.35 then {{ s }}.lpa_log1p(-y) else ln(x) end;
    u := -t * lx;
    ln_h := b * ln(u) - u - {{ s }}.lpa_ln_gamma(b);  -- ln(u^b e^-u / gamma(b))
    -- ln(gamma(a + b) / (gamma(a) t^b)), Stirling form as in lpa_ln_beta
    ln_k := (a - 0.5) * {{ s }}.lpa_log1p(b / a) + b * ln(a + b) - b
        - {{ s }}.lpa_stirling_corr(a) + {{ s }}.lpa_stirling_corr(a + b) - b * ln(t);
    q := {{ s }}.lpa_gamma_q(b, u);
    if q is null then
        return null;
    end if;
    if q = 0 then
        return 0;
    end if;
    j := exp(ln(q) - ln_h);  -- J_0, about 1 / u: in range even where q and h are not
    total := j;
    lx2 := case when abs(lx) < 1e-100 then 0 else (0.5 * lx) * (0.5 * lx) end;
    t4 := 4 * t * t;
    for k in 2..31 loop
        odd_fact := odd_fact || odd_fact[k - 1] * (2 * k - 2) * (2 * k - 1);
    end loop;
    for n in 1..30 loop
        pn := 0;
        for m in 1..n - 1 loop
            pn := pn + (m * b - n) * p[n - m + 1] / odd_fact[m + 1];
        end loop;
        pn := pn / n + bm1 / odd_fact[n + 1];
        p := p || pn;
        j := (b2n * (b2n + 1) * j + (u + b2n + 1) * lxp) / t4;
        lxp := case when lxp < 1e-150 or lx2 < 1e-150 then 0 else lxp * lx2 end;
        b2n := b2n + 2;
        exit when abs(j) < 1e-200;
        r := pn * j;
        total := total + r;
        exit when abs(r) < 1e-16 * abs(total);
    end loop;
    if total <= 0 then
        return null;
    end if;
    return least(1, {{ s }}.lpa_exp(ln_k + ln_h + ln(total)));
end
$lpa$;

-- I_x(a, b) with y = 1 - x, using I_x(a, b) = 1 - I_y(b, a) past the mean.
create or replace function {{ s }}.lpa_betai_xy(
    a double precision, b double precision, x double precision, y double precision
)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    if a < 1e-10 or b < 1e-10 or a > 1e20 or b > 1e20 or a = 'NaN' or b = 'NaN'
        or x < 0 or y < 0 or x = 'NaN' or y = 'NaN' then
        return null;
    end if;
    if x = 0 then
        return 0;
    end if;
    if y = 0 then
        return 1;
    end if;
    if x < (a + 1) / (a + b + 2) then
        if a >= 15 and b <= 1 and y < 0.3 then
            return {{ s }}.lpa_betai_bgrat(a, b, x, y);
        end if;
        return {{ s }}.lpa_betai_cf(a, b, x, y);
    end if;
    if b >= 15 and a <= 1 and x < 0.3 then
        return 1 - {{ s }}.lpa_betai_bgrat(b, a, y, x);
    end if;
    return 1 - {{ s }}.lpa_betai_cf(b, a, y, x);
end
$lpa$;

-- Regularized incomplete beta I_x(a, b); scipy.special.betainc.
create or replace function {{ s }}.lpa_betai(
    a double precision, b double precision, x double precision
)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    if x < 0 or x > 1 or x = 'NaN' then
        return null;
    end if;
    return {{ s }}.lpa_betai_xy(a, b, x, 1 - x);
end
$lpa$;

-- Upper tail of the standard normal: 0.5 Q(1/2, z^2 / 2) for z >= 0.
create or replace function {{ s }}.lpa_norm_sf(z double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    tail double precision;
begin
    if z = 'NaN' then
        return null;
    end if;
    if abs(z) < 1e-150 then
        return 0.5;  -- z^2 would underflow; the tail is 1/2 - z / sqrt(2 pi)
    end if;
    if abs(z) > 40 then
        tail := 0;  -- below the smallest double
    else
        tail := 0.5 * {{ s }}.lpa_gamma_q(0.5, 0.5 * z * z);
    end if;
    return case when z > 0 then tail else 1 - tail end;
end
$lpa$;

-- Standard normal CDF.
create or replace function {{ s }}.lpa_norm_cdf(z double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    return {{ s }}.lpa_norm_sf(-z);
end
$lpa$;

-- Inverse standard normal CDF: Acklam's approximation (1e-9) and two Halley steps. The
-- upper half is mirrored (1 - p is exact there); the tail step is relative to p, the centre
-- solves Phi(0) - Phi(x) = 0.5 - p directly so that x near 0 keeps its relative precision.
create or replace function {{ s }}.lpa_norm_ppf(p double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    q double precision;
    r double precision;
    x double precision;
    u double precision;
    half_mass double precision;
    ln_sqrt_2pi constant double precision := 0.5 * ln(2 * pi());
begin
    if p <= 0 or p >= 1 or p = 'NaN' then
        return null;
    end if;
    if p > 0.5 then
        return -{{ s }}.lpa_norm_ppf(1 - p);
    end if;
    if p = 0.5 then
        return 0;
    end if;
    if p < 0.02425 then
        q := sqrt(-2 * ln(p));
        x := (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
            - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
            + 4.374664141464968e+00) * q + 2.938163982698783e+00)
            / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
            + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1);
    else
        q := p - 0.5;
        r := q * q;
        x := (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
            - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
            - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
            / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
            - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
            - 1.328068155288572e+01) * r + 1);
    end if;
    if p < 1e-300 then
        return x;  -- subnormal p: Acklam's 1e-9 is all the precision p itself has
    end if;
    for step in 1..2 loop
        if p < 0.25 then
            -- (Phi(x) - p) / phi(x) = (Phi(x) / p - 1) * p / phi(x), all in range
            u := ({{ s }}.lpa_norm_sf(-x) / p - 1) * exp(ln(p) + 0.5 * x * x + ln_sqrt_2pi);
        else
            half_mass := case when abs(x) < 1e-150 then 0
                else 0.5 * {{ s }}.lpa_gamma_p(0.5, 0.5 * x * x) end;
            u := ((0.5 - p) - half_mass) * exp(0.5 * x * x + ln_sqrt_2pi);
        end if;
        x := x - u / (1 + 0.5 * x * u);
    end loop;
    return x;
end
$lpa$;

-- ln of the Student t density.
create or replace function {{ s }}.lpa_t_ln_pdf(t double precision, df double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    ln_u double precision;
    u double precision;
    l double precision;  -- ln(1 + t^2 / df)
begin
    if df < 1e-10 or df > 1e20 or df = 'NaN' or t = 'NaN' or abs(t) = 'Infinity' then
        return null;
    end if;
    ln_u := case when t = 0 then -1000 else ln(abs(t)) - 0.5 * ln(df) end;
    if ln_u < -345 then
        l := 0;
    elsif ln_u > 230 then
        l := 2 * ln_u;
    else
        u := abs(t) / sqrt(df);
        l := {{ s }}.lpa_log1p(u * u);
    end if;
    return -{{ s }}.lpa_ln_beta(0.5 * df, 0.5) - 0.5 * ln(df) - 0.5 * (df + 1) * l;
end
$lpa$;

-- Upper tail of Student t: P(T > t) = I_x(df / 2, 1 / 2) / 2 with x = df / (df + t^2) for
-- t >= 0. Any df > 0 (Welch's are not integers); above 1e20 it is the normal to 1e-16.
create or replace function {{ s }}.lpa_t_sf(t double precision, df double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    s double precision := abs(t);
    a double precision;
    t2 double precision;
    tail double precision;
begin
    if df < 1e-10 or df = 'NaN' or t = 'NaN' then
        return null;
    end if;
    a := 0.5 * df;
    if df > 1e20 then
        return {{ s }}.lpa_norm_sf(t);
    end if;
    if s = 'Infinity' then
        tail := 0;
    elsif s < 1e-150 then
        tail := 1;  -- t^2 would underflow; the tail is 1/2 - O(t)
    elsif 2 * ln(s) - ln(df) > 600 then
        -- x = df / t^2 < 1e-260 would underflow below:
        -- I_x(a, 1/2) = x^a / (a B(a, 1/2)) (1 + O(x))
        tail := {{ s }}.lpa_exp(a * (ln(df) - 2 * ln(s)) - ln(a) - {{ s }}.lpa_ln_beta(a, 0.5));
    else
        t2 := s * s;
        tail := {{ s }}.lpa_betai_xy(a, 0.5, df / (df + t2), t2 / (df + t2));
    end if;
    return case when t > 0 then 0.5 * tail else 1 - 0.5 * tail end;
end
$lpa$;

-- Inverse Student t CDF (scipy.stats.t.ppf). The lower half is solved for s = -t > 0 from
-- the normal quantile, which always lies between 0 and the root. Tails (p < 0.25): Newton
-- on ln sf(s) = ln p in v = ln s, concave and nearly linear (sf ~ s^-df), bracketed with
-- bisection as a safeguard. Centre: Newton on P(0 < T < s) = 0.5 - p, concave in s, so
-- the iterates rise monotonically to the root and s near 0 keeps its relative precision.
create or replace function {{ s }}.lpa_t_ppf(p double precision, df double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
declare
    s double precision;
    t2 double precision;
    v double precision;
    v_new double precision;
    v_lo double precision;  -- known to be left of the root (sf > p)
    v_hi double precision;  -- known to be right of the root (sf < p)
    ln_p double precision;
    q double precision;
    f double precision;
    step double precision;
    mass double precision;
begin
    if p <= 0 or p >= 1 or p = 'NaN' or df < 1e-10 or df = 'NaN' then
        return null;
    end if;
    if df > 1e20 then
        return {{ s }}.lpa_norm_ppf(p);
    end if;
    if p > 0.5 then
        return -{{ s }}.lpa_t_ppf(1 - p, df);  -- 1 - p is exact for p > 1/2
    end if;
    if p = 0.5 then
        return 0;
    end if;
    s := -{{ s }}.lpa_norm_ppf(p);
    if p >= 0.25 then
        for i in 1..100 loop
            if s < 1e-150 then
                mass := s * exp({{ s }}.lpa_t_ln_pdf(0, df));
            elsif s > 1e100 then
                return null;  -- only for df far below 1
            else
                t2 := s * s;
                mass := 0.5 * {{ s }}.lpa_betai_xy(0.5, 0.5 * df, t2 / (df + t2), df / (df + t2));
            end if;
            step := {{ s }}.lpa_exp({{ s }}.lpa_t_ln_pdf(s, df));
            if step is null or step = 0 or mass is null then
                return null;
            end if;
            step := ((0.5 - p) - mass) / step;
            s := s + step;
            exit when abs(step) <= 1e-14 * s;
        end loop;
        return -s;
    end if;
    ln_p := ln(p);
    v := ln(s);
    for i in 1..200 loop
        q := {{ s }}.lpa_t_sf(exp(v), df);
        if q is null then
            return null;
        end if;
        if q = 0 then
            f := -1e300;  -- sf underflowed: far right of the root
            step := null;
        else
            f := ln(q) - ln_p;
            -- d ln sf / dv = -s pdf(s) / sf(s); no step (bisection) if out of range
            step := {{ s }}.lpa_exp(v + {{ s }}.lpa_t_ln_pdf(exp(v), df) - ln(q));
            step := case when step > 0 then f / step end;
        end if;
        if f = 0 then
            exit;
        elsif f > 0 then
            v_lo := v;
        else
            v_hi := v;
        end if;
        v_new := v + step;
        if v_new is null or v_new <= v_lo or v_new >= v_hi or v_new > 708 then
            if v_hi is null then
                if v_lo >= 708 then
                    return null;  -- the quantile is beyond the largest double
                end if;
                v_new := 708;
            elsif v_lo is null then
                v_new := v_hi - 1;
            else
                v_new := 0.5 * (v_lo + v_hi);
            end if;
        end if;
        step := v_new - v;
        v := v_new;
        exit when abs(step) <= 1e-14 * greatest(1, abs(v));
    end loop;
    return -exp(v);
end
$lpa$;

-- Chi-square upper tail Q(df / 2, x / 2); scipy.stats.chi2.sf.
create or replace function {{ s }}.lpa_chi2_sf(x double precision, df double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $lpa$
begin
    if df < 2e-10 or df > 2e20 or df = 'NaN' or x = 'NaN' then
        return null;
    end if;
    if x <= 0 then
        return 1;
    end if;
    if x < 1e-300 then
        -- x / 2 could underflow: 1 - P with P's first term
        return 1 - {{ s }}.lpa_exp(0.5 * df * (ln(x) - ln(2.0)) - {{ s }}.lpa_ln_gamma(0.5 * df + 1));
    end if;
    return {{ s }}.lpa_gamma_q(0.5 * df, 0.5 * x);
end
$lpa$
{%- endmacro %}
