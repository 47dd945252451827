"""Effect sizes and tests between groups of users: Cohen's d, η², Welch t, ANOVA, BH-FDR.

Comparisons use each user's score once (unweighted): they describe the sampled users, while
weights only change the group estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

Z95 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class Summary:
    """Mean, variance (ddof 1) and size of one group's scores."""

    mean: float
    var: float
    n: int

    @classmethod
    def of(cls, x: np.ndarray) -> Summary:
        return cls(float(np.mean(x)), float(np.var(x, ddof=1)) if len(x) > 1 else math.nan,
                   len(x))


def cohen_d(a: Summary, b: Summary) -> tuple[float, float, float]:
    """Cohen's d of ``a`` minus ``b`` with the pooled SD, and its 95% CI.

    The CI uses the large-sample standard error sqrt((na+nb)/(na nb) + d^2 / (2 (na+nb)))
    (Hedges & Olkin 1985).
    """
    na, nb = a.n, b.n
    pooled = math.sqrt(((na - 1) * a.var + (nb - 1) * b.var) / (na + nb - 2))
    d = (a.mean - b.mean) / pooled if pooled > 0 else math.nan
    se = math.sqrt((na + nb) / (na * nb) + d * d / (2 * (na + nb)))
    return d, d - Z95 * se, d + Z95 * se


def welch_p(a: Summary, b: Summary) -> float:
    """Two-sided p of Welch's t test (unequal variances), as ``scipy.stats.ttest_ind``.

    From summaries, because a study makes thousands of tests and
    ``scipy.stats.ttest_ind_from_stats`` costs ~50 µs a call, this ~4 µs.
    """
    va, vb = a.var / a.n, b.var / b.n
    se2 = va + vb
    if not se2 > 0:
        return math.nan
    t = (a.mean - b.mean) / math.sqrt(se2)
    df = se2 ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    return float(2 * special.stdtr(df, -abs(t)))


def eta_squared(groups: list[np.ndarray]) -> tuple[float, float, float, float]:
    """η² = SS_between / SS_total of a one-way ANOVA, its 95% CI and the ANOVA's p.

    The CI inverts the noncentral F distribution for the noncentrality λ (Steiger 2004) and
    maps λ to η² = λ / (λ + N): it is a CI of the population η². The sample η² is biased
    upward (by about (k-1)/(N-1) with no effect), so with many small groups it can exceed
    the CI's upper limit; the test is the ANOVA's p.
    """
    k = len(groups)
    n = sum(len(g) for g in groups)
    allv = np.concatenate(groups)
    grand = allv.mean()
    ss_between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    ss_total = float(((allv - grand) ** 2).sum())
    eta2 = float(ss_between / ss_total) if ss_total > 0 else float("nan")
    f, p = stats.f_oneway(*groups)
    df1, df2 = k - 1, n - k

    def lam_for(q: float) -> float:
        # the λ at which the observed F is the q-quantile; 0 if even λ = 0 puts it below
        if stats.f.cdf(f, df1, df2) < q:
            return 0.0
        hi = max(10.0, f * df1 * 4)
        while stats.ncf.cdf(f, df1, df2, hi) > q:
            hi *= 2
        return optimize.brentq(lambda lam: stats.ncf.cdf(f, df1, df2, lam) - q, 0.0, hi)

    if not np.isfinite(f):
        return eta2, float("nan"), float("nan"), float(p)
    lo_lam, hi_lam = lam_for(0.975), lam_for(0.025)
    return eta2, lo_lam / (lo_lam + n), hi_lam / (hi_lam + n), float(p)


def bh_fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (statsmodels ``multipletests``); NaN p stay NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, float)
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return q
