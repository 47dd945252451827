"""Fits through the Gram matrix equal scikit-learn's fits on the design itself."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression, RidgeCV

from psyprofile.models import gram
from psyprofile.models.pipeline import ALPHAS, LanguageClassifier, LanguageRegressor, LinearHead


def _design(n: int, p: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = sp.random(n, p, density=0.2, random_state=seed, format="csr")
    return Z, Z @ rng.normal(size=p) + rng.normal(size=n)


@pytest.mark.parametrize(("n", "p"), [(60, 400), (150, 8), (90, 90)])
def test_ridge_from_the_gram_is_ridgecv(n, p):
    Z, y = _design(n, p, seed=n)
    Y = np.column_stack([y, np.random.default_rng(1).normal(size=n)])
    for target in (y, Y):
        ref = RidgeCV(alphas=ALPHAS).fit(Z, target)
        fitted = gram.ridge(gram.of(Z), target, ALPHAS)
        coef, intercept = gram.primal(fitted, [Z[:, : p // 2], Z[:, p // 2:]])
        assert fitted.alpha == ref.alpha_
        np.testing.assert_allclose(coef, np.atleast_2d(ref.coef_), atol=1e-9)
        np.testing.assert_allclose(intercept, np.atleast_1d(ref.intercept_), atol=1e-9)
        # a subset of the rows: the sub-block of the Gram, predictions by the cross Gram
        K = gram.of(Z)
        train, test = np.arange(n) % 3 != 0, np.arange(n) % 3 == 0
        sub = gram.ridge(K[np.ix_(train, train)], target[train], ALPHAS)
        np.testing.assert_allclose(sub.predict(K[np.ix_(test, train)]),
                                   RidgeCV(alphas=ALPHAS).fit(Z[train], target[train]).predict(Z[test]),
                                   atol=1e-8)


def test_logistic_on_principal_coordinates_is_the_same_problem():
    Z, y = _design(200, 3000, seed=4)
    labels = (y > np.median(y)).astype(int)
    head = LinearHead("classification", Cs=(0.05,)).fit(Z, labels)
    ref = LogisticRegression(C=0.05, max_iter=5000, tol=1e-10).fit(Z, labels)
    # equal up to the optimiser's tolerance (the default one, in other coordinates)
    assert np.abs(head.coef_ - ref.coef_).max() < 1e-2 * np.abs(ref.coef_).max()
    np.testing.assert_allclose(head.decision_function(Z), ref.decision_function(Z), atol=2e-2)


def test_shared_grams_give_the_per_fit_models():
    """``auto`` fits its members from shared Grams: they predict as members fitted alone."""
    rng = np.random.default_rng(7)
    n = 150
    z = rng.normal(size=n)
    X = np.column_stack([z[:, None] + rng.normal(size=(n, 30)), rng.normal(size=(n, 400))])
    X[:, 30:80] += 0.3 * z[:, None]
    y = z + rng.normal(scale=0.5, size=n)
    blocks = (("a", 30), ("b", 400))
    for model, target in ((LanguageRegressor(blocks, 0, "auto"), y),
                          (LanguageClassifier(blocks, 0, "auto", Cs=(0.01, 1.0)), (y > 0).astype(int))):
        m = model.fit(X, target)
        for member, g in zip(m.members_, m._groups(), strict=True):
            Xg = m._member_input(sp.csr_matrix(X), g)
            again = m._member(g).fit(Xg, target)
            assert member.head_.penalty_ == again.head_.penalty_
            np.testing.assert_allclose(member.linear_scores(Xg), again.linear_scores(Xg), atol=1e-3)


def test_held_out_predictions_equal_refits_without_the_fold():
    from sklearn.linear_model import Ridge

    Z, y = _design(90, 300, seed=9)
    Y = np.column_stack([y, y**2])
    fold = np.arange(90) % 3
    splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(3)]
    for target in (y, Y):
        fitted = gram.ridge(gram.of(Z), target, ALPHAS)
        refit = np.zeros_like(target)
        for train, test in splits:
            refit[test] = Ridge(alpha=fitted.alpha, solver="cholesky").fit(
                Z[train].toarray(), target[train]).predict(Z[test].toarray())
        np.testing.assert_allclose(fitted.fold_predictions(splits), refit, atol=1e-8)
