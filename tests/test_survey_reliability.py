"""Cronbach's α and McDonald's ω against independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from psyprofile.survey.reliability import (
    cronbach_alpha,
    mcdonald_omega,
    one_factor_loadings,
    scale_reliability,
)


def _likert(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    lam = np.linspace(0.3, 0.9, k)
    return np.clip(np.round(3 + f[:, None] * lam * 1.2 + rng.normal(size=(n, k))), 1, 5)


@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_matches_pingouin(seed):
    pingouin = pytest.importorskip("pingouin")
    x = _likert(250, 8, seed)
    ref, _ = pingouin.cronbach_alpha(pd.DataFrame(x))
    assert cronbach_alpha(x) == pytest.approx(ref, abs=1e-12)


def test_alpha_textbook_identity():
    # Two items: α = 4 cov / var(sum) (the Spearman–Brown split-half form); here by hand:
    # item a = 1,2,3,4,5 (var 2.5), item b = 2,1,4,3,5 (var 2.5), cov 2.0, var(a+b) = 9.
    x = np.array([[1, 2], [2, 1], [3, 4], [4, 3], [5, 5]], dtype=float)
    assert cronbach_alpha(x) == pytest.approx(2 * (1 - 5.0 / 9.0))


def test_omega_recovers_a_known_one_factor_structure():
    # Data whose sample covariance is exactly Λ Λᵀ + Ψ: the ML solution is then Λ itself,
    # so ω = (Σλ)² / ((Σλ)² + Σψ) is known in closed form.
    lam = np.array([0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    psi = 1 - lam**2
    sigma = np.outer(lam, lam) + np.diag(psi)
    rng = np.random.default_rng(3)
    z = rng.normal(size=(500, 6))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    x = z @ np.linalg.cholesky(sigma).T + 3
    got_lam, got_psi = one_factor_loadings(np.corrcoef(x, rowvar=False))
    np.testing.assert_allclose(got_lam, lam, atol=1e-6)
    np.testing.assert_allclose(got_psi, psi, atol=1e-6)
    assert mcdonald_omega(x) == pytest.approx(lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum()), abs=1e-6)


def test_omega_matches_sklearn_factor_analysis():
    # sklearn's FactorAnalysis fits the same ML model by a different algorithm (SVD on data).
    from sklearn.decomposition import FactorAnalysis

    x = _likert(300, 8, 5)
    z = (x - x.mean(0)) / x.std(0)
    fa = FactorAnalysis(n_components=1, tol=1e-12, max_iter=20000).fit(z)
    lam = np.abs(fa.components_[0])
    ref = lam.sum() ** 2 / (lam.sum() ** 2 + fa.noise_variance_.sum())
    assert mcdonald_omega(x) == pytest.approx(ref, abs=1e-5)


def test_bootstrap_intervals_are_seeded_and_cover_the_estimate():
    x = _likert(200, 6, 7)
    x[0, 2] = np.nan  # listwise: this respondent is left out
    a = scale_reliability(x, n_boot=300, seed=4)
    b = scale_reliability(x, n_boot=300, seed=4)
    c = scale_reliability(x, n_boot=300, seed=5)
    assert a == b and a != c
    assert a.n == 199 and a.n_items == 6
    assert a.alpha == pytest.approx(cronbach_alpha(x[1:]))
    assert a.alpha_lo < a.alpha < a.alpha_hi and a.omega_lo < a.omega < a.omega_hi
    # With n = 199 the interval is a few hundredths wide, not degenerate and not huge.
    assert 0.02 < a.alpha_hi - a.alpha_lo < 0.2


def test_bootstrap_interval_matches_a_plain_loop():
    # The batched bootstrap equals the textbook loop: resample rows, recompute α.
    x = _likert(80, 5, 9)
    rel = scale_reliability(x, n_boot=200, seed=11)
    rng = np.random.default_rng(11)
    n = len(x)
    alphas = []
    for w in rng.multinomial(n, np.full(n, 1.0 / n), size=200):
        alphas.append(cronbach_alpha(np.repeat(x, w, axis=0)))
    lo, hi = np.percentile(alphas, [2.5, 97.5])
    assert (rel.alpha_lo, rel.alpha_hi) == pytest.approx((lo, hi), abs=1e-10)


def test_undefined_cases_are_nan():
    assert np.isnan(cronbach_alpha(np.ones((10, 3))))
    assert np.isnan(mcdonald_omega(np.column_stack([np.arange(10.0), np.ones(10)])))
    rel = scale_reliability(np.full((2, 4), np.nan), n_boot=10)
    assert rel.n == 0 and np.isnan(rel.alpha) and np.isnan(rel.omega_lo)
