"""Internal consistency of a scale: Cronbach's α and McDonald's ω, with bootstrap intervals.

Both work on the keyed item matrix of one scale (respondents × items, reverse keys already
applied), using respondents who answered every item of the scale (listwise).

ω is McDonald's omega total for a one-factor model: with standardised loadings λ and unique
variances ψ of a one-factor maximum-likelihood factor analysis of the items' correlation
matrix, ω = (Σλ)² / ((Σλ)² + Σψ). The one-factor ML solution is computed on the k × k
correlation matrix by the classic fixed-point iteration (eigen-decomposition of
Ψ^-½ R Ψ^-½, then Ψ = diag(R − λλᵀ)), which is exact at convergence and fast enough to
bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_PSI = 0.005  # floor on unique variances: keeps Heywood cases finite, as most FA programs do
_BATCH = 200  # bootstrap resamples computed together (memory: batch × n plus batch × k² floats)


@dataclass(frozen=True)
class ScaleReliability:
    """α and ω of one scale with 95% percentile-bootstrap intervals; ``n`` complete respondents."""

    n: int
    n_items: int
    alpha: float
    alpha_lo: float
    alpha_hi: float
    omega: float
    omega_lo: float
    omega_hi: float


def _alpha(cov: np.ndarray) -> np.ndarray:
    """α from item covariance matrices, shape (..., k, k) -> (...)."""
    k = cov.shape[-1]
    total = cov.sum(axis=(-2, -1))
    item = np.trace(cov, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, k / (k - 1) * (1 - item / total), np.nan)


def one_factor_loadings(r: np.ndarray, max_iter: int = 1000,
                        tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Standardised loadings λ and unique variances ψ of one-factor ML solutions.

    ``r`` is a correlation matrix (k, k) or a stack of them (b, k, k); λ and ψ have shape
    (k,) or (b, k). The sign of λ is chosen so that Σλ ≥ 0.
    """
    single = r.ndim == 2
    r = r[None] if single else r
    diag = np.diagonal(r, axis1=1, axis2=2)
    # Start from the squared multiple correlations, the usual communality guess.
    try:
        psi = 1.0 / np.diagonal(np.linalg.inv(r), axis1=1, axis2=2)
    except np.linalg.LinAlgError:
        psi = np.full(diag.shape, 0.5)
    psi = np.clip(psi, _MIN_PSI, 1.0)
    lam = np.zeros_like(psi)
    active = np.arange(len(r))  # matrices not yet converged: only these are iterated
    for _ in range(max_iter):
        p = psi[active]
        s = 1.0 / np.sqrt(p)
        vals, vecs = np.linalg.eigh(r[active] * s[:, :, None] * s[:, None, :])
        theta, v = vals[:, -1], vecs[:, :, -1]
        lam[active] = np.sqrt(p) * v * np.sqrt(np.maximum(theta - 1.0, 0.0))[:, None]
        new_psi = np.clip(diag[active] - lam[active] ** 2, _MIN_PSI, None)
        moving = np.max(np.abs(new_psi - p), axis=1) >= tol
        psi[active] = new_psi
        active = active[moving]
        if not len(active):
            break
    lam = lam * np.where(lam.sum(axis=1) < 0, -1.0, 1.0)[:, None]
    return (lam[0], psi[0]) if single else (lam, psi)


def _omega(cov: np.ndarray) -> np.ndarray:
    """ω total (one factor, standardised) from item covariance matrices (b, k, k) -> (b,)."""
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    out = np.full(len(cov), np.nan)
    ok = np.all(sd > 0, axis=1)
    if ok.any():
        r = cov[ok] / sd[ok][:, :, None] / sd[ok][:, None, :]
        lam, psi = one_factor_loadings(r)
        common = lam.sum(axis=1) ** 2
        out[ok] = common / (common + psi.sum(axis=1))
    return out


def cronbach_alpha(x: np.ndarray) -> float:
    """Cronbach's α of a complete respondents × items matrix (NaN if undefined)."""
    n, k = x.shape
    if n < 2 or k < 2:
        return float("nan")
    return float(_alpha(np.cov(x, rowvar=False)))


def mcdonald_omega(x: np.ndarray) -> float:
    """McDonald's ω total (one factor, standardised) of a complete respondents × items matrix."""
    n, k = x.shape
    if n < 3 or k < 2:
        return float("nan")
    return float(_omega(np.cov(x, rowvar=False)[None])[0])


def _boot_covariances(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Covariance matrices (b, k, k) of the resamples given by counts ``w`` (b, n) of ``x`` (n, k)."""
    n, k = x.shape
    s1 = w @ x
    s2 = (w @ (x[:, :, None] * x[:, None, :]).reshape(n, k * k)).reshape(-1, k, k)
    return (s2 - s1[:, :, None] * s1[:, None, :] / n) / (n - 1)


def scale_reliability(x: np.ndarray, *, n_boot: int = 1000, seed: int = 0,
                      min_n: int = 3) -> ScaleReliability:
    """α and ω of the keyed item matrix ``x`` (rows with any NaN are left out) with 95% CIs.

    The intervals are percentile intervals over ``n_boot`` bootstrap resamples of the
    respondents (counts drawn with ``numpy.random.default_rng(seed)``; NaN when ``n_boot``
    is 0). With fewer than ``min_n`` complete respondents every figure is NaN. Resamples in which an item does not vary
    have no ω and are left out of its interval.
    """
    x = x[~np.isnan(x).any(axis=1)]
    n, k = x.shape
    nan = float("nan")
    if n < max(min_n, 3):
        return ScaleReliability(n, k, nan, nan, nan, nan, nan, nan)
    alpha, omega = cronbach_alpha(x), mcdonald_omega(x)
    a_ci = o_ci = (nan, nan)
    if n_boot > 0 and k >= 2:
        rng = np.random.default_rng(seed)
        xc = x - x.mean(axis=0)  # centred: the one-pass covariance below stays accurate
        boots_a, boots_o = [], []
        for start in range(0, n_boot, _BATCH):
            w = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_BATCH, n_boot - start))
            cov = _boot_covariances(xc, w.astype(float))
            boots_a.append(_alpha(cov))
            boots_o.append(_omega(cov))
        a_ci = _percentile(np.concatenate(boots_a))
        o_ci = _percentile(np.concatenate(boots_o))
    return ScaleReliability(n, k, alpha, *a_ci, omega, *o_ci)


def _percentile(v: np.ndarray) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)
