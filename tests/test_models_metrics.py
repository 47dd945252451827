"""Metrics and bootstrap CIs against scipy/sklearn and a slow loop reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score

from psyprofile.models import metrics

REFERENCE = {
    "r": lambda y, p: pearsonr(y, p)[0],
    "r2": r2_score,
    "mae": mean_absolute_error,
    "auc": lambda y, p: roc_auc_score(y, p[:, 1]),
    "accuracy": lambda y, p: accuracy_score(y, p.argmax(1)),
    "f1": lambda y, p: f1_score(y, p.argmax(1), average="macro"),
}


def _data(task: str, n: int = 60, seed: int = 1):
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(size=n)
        return y, y + rng.normal(size=n)
    y = (rng.random(n) < 0.4).astype(int)
    p1 = np.clip(0.3 + 0.4 * y + rng.normal(scale=0.25, size=n), 0, 1).round(1)  # ties on purpose
    return y, np.column_stack([1 - p1, p1])


@pytest.mark.parametrize("m", ["r", "r2", "mae", "auc", "accuracy", "f1"])
def test_point_estimate_equals_reference(m):
    y, p = _data("regression" if m in ("r", "r2", "mae") else "classification")
    assert metrics.point(m, y, p) == pytest.approx(REFERENCE[m](y, p), abs=1e-12)


@pytest.mark.parametrize("m", ["r", "r2", "mae", "auc", "accuracy", "f1"])
def test_bootstrap_ci_matches_slow_reference_and_contains_estimate(m):
    task = "regression" if m in ("r", "r2", "mae") else "classification"
    y, p = _data(task)
    lo, hi = metrics.bootstrap_ci(m, y, p, n_boot=100, seed=7)
    strata = y if task == "classification" else None
    idx = metrics.resample_indices(len(y), 100, 7, strata)
    slow = np.array([REFERENCE[m](y[i], p[i]) for i in idx])
    ref_lo, ref_hi = np.percentile(slow, [2.5, 97.5])
    assert (lo, hi) == pytest.approx((ref_lo, ref_hi), abs=1e-12)
    assert lo <= metrics.point(m, y, p) <= hi


def test_multiclass_auc_is_mean_one_vs_rest():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    p = rng.dirichlet(np.ones(3), size=90)
    p[np.arange(90), y] += 0.3
    p /= p.sum(1, keepdims=True)
    assert metrics.point("auc", y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr"), abs=1e-12)


def test_paired_difference_of_a_model_with_itself_is_zero_and_detects_better_model():
    y, p = _data("regression", n=200)
    same = metrics.paired_difference("r", y, p, p, n_boot=200)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0]
    better = metrics.paired_difference("r", y, y + 0.1 * (p - y), p, n_boot=500)
    assert better["difference"] > 0 and better["ci"][0] > 0 and better["p"] < 0.01


def test_summarize_has_stable_keys():
    y, p = _data("classification")
    s = metrics.summarize("classification", y, p, n_boot=50)
    assert list(s) == ["n_users", "auc", "auc_ci", "accuracy", "accuracy_ci", "f1", "f1_ci"]
