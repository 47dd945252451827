"""From a source's raw scores to profile scores: intervals, standardisation, percentiles.

Intervals come from the split-half error as a function of words. Under sampling of text, a
score resting on ``w`` words has error variance ``c² / w``. A user's odd- and even-message
scores ``a, b`` (on ``w_a, w_b`` words) differ by ``a - b`` with variance
``c² (1/w_a + 1/w_b)``, so over the study's users
``c² = mean[(a - b)² / (1/w_a + 1/w_b)]`` (the normal maximum-likelihood estimate). Each
score gets ``sigma = c / sqrt(words)`` and ``lo, hi = value -/+ 1.96 sigma`` (mapped through
the dimension's transform, e.g. the logistic for P(female)): the interval shrinks as
``1/sqrt(words)``. It is the error of the language score as a measurement of the user's
language, not of the trait: validity is a separate question (``psyprofile validity``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psyprofile.profiles.sources import Messages, Source

Z95 = 1.959963984540054


@dataclass
class Scored:
    """One source over the kept users: ``raw`` (n_users, k) (NaN for users not kept),
    ``words`` (n_users,), the split halves ``halves`` (n_users, 2, k) and their
    ``half_words`` (n_users, 2), the fitted error scale ``c`` (k,) and, for a lexicon, the
    share of each user's words it matched, ``coverage`` (n_users,)."""

    source: Source
    raw: np.ndarray
    words: np.ndarray
    halves: np.ndarray
    half_words: np.ndarray
    c: np.ndarray
    coverage: np.ndarray | None = None


def error_scale(halves: np.ndarray, half_words: np.ndarray) -> np.ndarray:
    """``c`` per dimension from split halves (see the module docstring); NaN without any
    user having two usable halves. ``halves`` (n, 2, k), ``half_words`` (n, 2)."""
    d = halves[:, 0, :] - halves[:, 1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / half_words[:, 0] + 1.0 / half_words[:, 1]
        c2 = d ** 2 / inv[:, None]
    c2[~np.isfinite(c2)] = np.nan
    out = np.full(halves.shape[2], np.nan)
    for j in range(halves.shape[2]):
        col = c2[:, j]
        if np.isfinite(col).any():
            out[j] = np.sqrt(np.nanmean(col))
    return out


def score_source(src: Source, msgs: Messages, keep: np.ndarray) -> Scored:
    """Raw scores of ``src`` for the users ``keep`` (n_users,) bool, with split halves."""
    n = len(msgs.users)
    raw = src.raw(msgs.by_user(keep), n)
    words = src.words(msgs.by_user(keep), n)
    k = raw.shape[1]
    halves = src.raw(msgs.by_half(keep), 2 * n).reshape(n, 2, k)
    half_words = src.words(msgs.by_half(keep), 2 * n).reshape(n, 2)
    raw[~keep] = np.nan
    cov = src.coverage(msgs.by_user(keep), n)
    if cov is not None:
        cov[~keep] = np.nan
    return Scored(src, raw, words, halves, half_words, error_scale(halves, half_words), cov)


def transform(x: np.ndarray, how: str) -> np.ndarray:
    """A dimension's value from its raw score: identity, the logistic (probabilities), a
    share of words (which cannot leave 0..1, so neither can its interval), or a sum of
    weights of one sign ('nonneg', 'nonpos': its interval stays on that side of 0)."""
    if how == "logistic":
        return 1.0 / (1.0 + np.exp(-x))
    if how == "share":
        return np.clip(x, 0.0, 1.0)
    if how == "nonneg":  # a sum of non-negative weights
        return np.maximum(x, 0.0)
    if how == "nonpos":  # a sum of negative weights
        return np.minimum(x, 0.0)
    return x


def percentiles(values: np.ndarray) -> np.ndarray:
    """Percentile (0..100) of each finite value within the finite ones (mid-rank, so ties
    share one value); NaN stays NaN."""
    from scipy.stats import rankdata

    out = np.full(len(values), np.nan)
    ok = np.isfinite(values)
    if ok.any():
        out[ok] = 100.0 * (rankdata(values[ok]) - 0.5) / ok.sum()
    return out


def split_half_stats(a: np.ndarray, b: np.ndarray, seed: int = 0,
                     n_boot: int = 1000) -> tuple[int, float, float, float, float]:
    """(n, r of the halves, Spearman-Brown reliability 2r/(1+r), 95% CI low, high) over
    the pairs where both are finite; the CI is a percentile bootstrap over users of the
    corrected reliability. NaNs when fewer than 3 pairs or a constant half."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    if n < 3 or np.std(a) == 0 or np.std(b) == 0:
        return n, np.nan, np.nan, np.nan, np.nan
    r = float(np.corrcoef(a, b)[0, 1])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    A, B = a[idx], b[idx]
    A = A - A.mean(axis=1, keepdims=True)
    B = B - B.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rb = (A * B).sum(1) / np.sqrt((A ** 2).sum(1) * (B ** 2).sum(1))
    rel_b = spearman_brown(rb[np.isfinite(rb)])
    lo, hi = np.percentile(rel_b, [2.5, 97.5]) if len(rel_b) else (np.nan, np.nan)
    return n, r, float(spearman_brown(np.array([r]))[0]), float(lo), float(hi)


def spearman_brown(r: np.ndarray) -> np.ndarray:
    """Reliability of the whole from the correlation ``r`` of two halves: 2r / (1 + r)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * r / (1 + r)
