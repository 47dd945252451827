"""Accuracy of predictions, with bootstrap confidence intervals over users.

Every metric is written once as a *batched* function: it takes index arrays of shape
``(B, n)`` (one bootstrap resample of users per row) and returns ``B`` values, so the
2,000 resamples of a CI are computed in a few vectorised numpy operations. The point
estimate is the same function on the identity resample, so a CI and its estimate can
never disagree on the definition of the metric.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import rankdata

# A batched metric: (idx of shape (B, n), *data arrays of length n) -> B values.
Batched = Callable[..., np.ndarray]

REGRESSION_METRICS = ("r", "r2", "mae")
CLASSIFICATION_METRICS = ("auc", "accuracy", "f1")


def _pearson(idx: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b = y[idx], p[idx]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def _r2(idx: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b = y[idx], p[idx]
    ss_res = ((a - b) ** 2).sum(axis=1)
    ss_tot = ((a - a.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def _mae(idx: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.abs(y[idx] - p[idx]).mean(axis=1)


def _auc_binary(idx: np.ndarray, pos: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per resample; ties count one half (average ranks)."""
    s, t = score[idx], pos[idx]
    ranks = rankdata(s, axis=1)
    n1 = t.sum(axis=1).astype(float)
    n0 = t.shape[1] - n1
    u = (ranks * t).sum(axis=1) - n1 * (n1 + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n1 > 0) & (n0 > 0), u / np.where(n1 * n0 > 0, n1 * n0, 1.0), np.nan)


def _auc(idx: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Binary AUC of ``proba[:, 1]``; for more classes the mean one-vs-rest AUC."""
    k = proba.shape[1]
    if k == 2:
        return _auc_binary(idx, y == 1, proba[:, 1])
    return np.nanmean(np.stack([_auc_binary(idx, y == c, proba[:, c]) for c in range(k)]), axis=0)


def _accuracy(idx: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    return (proba.argmax(axis=1) == y)[idx].mean(axis=1)


def _macro_f1(idx: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    pred = proba.argmax(axis=1)
    f1s = []
    for c in range(proba.shape[1]):
        tp = ((pred == c) & (y == c))[idx].sum(axis=1)
        fp = ((pred == c) & (y != c))[idx].sum(axis=1)
        fn = ((pred != c) & (y == c))[idx].sum(axis=1)
        den = 2 * tp + fp + fn
        # A class absent from a resample and never predicted has no F1; sklearn scores it 0.
        f1s.append(np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0))
    return np.mean(f1s, axis=0)


BATCHED: dict[str, Batched] = {
    "r": _pearson, "r2": _r2, "mae": _mae,
    "auc": _auc, "accuracy": _accuracy, "f1": _macro_f1,
}


def point(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    """``metric`` ('r', 'r2', 'mae', 'auc', 'accuracy', 'f1') over all users.

    Regression: ``y`` and ``pred`` of shape (n,). Classification: ``y`` class indices of
    shape (n,), ``pred`` class probabilities of shape (n, n_classes).
    """
    return float(BATCHED[metric](np.arange(len(y))[None, :], y, pred)[0])


def resample_indices(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """``n_boot`` bootstrap resamples of ``range(n)``, shape (n_boot, n), reproducible by ``seed``.

    With ``strata`` (one label per user) each resample keeps every stratum's size, so a
    rare class cannot vanish from a resample.
    """
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    out = np.empty((n_boot, n), dtype=np.int64)
    pos = 0
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out[:, pos:pos + len(members)] = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
        pos += len(members)
    return out


def bootstrap_ci(metric: str, y: np.ndarray, pred: np.ndarray, n_boot: int = 2000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric`` over users (see :func:`point` for shapes)."""
    strata = y if metric in CLASSIFICATION_METRICS else None
    vals = BATCHED[metric](resample_indices(len(y), n_boot, seed, strata), y, pred)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(vals, [tail, 100 - tail])
    return (float(lo), float(hi))


def metric_names(task: str) -> tuple[str, ...]:
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def summarize(task: str, y: np.ndarray, pred: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every metric of ``task`` with its 95% CI: ``{'n_users', m, m + '_ci', ...}``."""
    out: dict[str, Any] = {"n_users": int(len(y))}
    for m in metric_names(task):
        out[m] = point(m, y, pred)
        out[m + "_ci"] = list(bootstrap_ci(m, y, pred, n_boot, seed)) if n_boot else None
    return out


def paired_difference(metric: str, y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                      n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """``metric(a) - metric(b)`` on the same users with a paired bootstrap CI.

    Both predictions are scored on the *same* resamples, so the CI reflects the difference
    between the two models rather than the sampling noise of each. ``p`` is the two-sided
    bootstrap share of resamples whose difference has the other sign.
    """
    strata = y if metric in CLASSIFICATION_METRICS else None
    idx = resample_indices(len(y), n_boot, seed, strata)
    f = BATCHED[metric]
    d = f(idx, y, pred_a) - f(idx, y, pred_b)
    d = d[np.isfinite(d)]
    est = point(metric, y, pred_a) - point(metric, y, pred_b)
    lo, hi = np.percentile(d, [2.5, 97.5])
    p = min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))
    return {"metric": metric, "difference": est, "ci": [float(lo), float(hi)], "p": float(p)}
