"""The recipe chooser (``combine='auto'``) and the constrained stacking weights."""

from __future__ import annotations

import numpy as np

from psyprofile.models.pipeline import (
    LanguageClassifier,
    LanguageModel,
    LanguageRegressor,
    shrink_toward_equal,
    stack_weights,
)


def _suppressor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """y = 3 (a - b) with corr(a, b) = .95, a in set A and b in set B (+ 20 noise columns
    each): only a model seeing both sets at once finds the signal; each set alone is noise,
    so the stack of per-set models overfits noise."""
    z = rng.normal(size=(n, 2))
    a = z[:, 0]
    b = 0.95 * a + np.sqrt(1 - 0.95**2) * z[:, 1]
    y = 3 * (a - b) + rng.normal(scale=0.3, size=n)
    X = np.column_stack([a, rng.normal(size=(n, 20)), b, rng.normal(size=(n, 20))])
    return X, y, (("A", 21), ("B", 21))


def _penalties(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """A small set of strong features and a wide set of weak ones: one shared ridge penalty
    suits neither, one model per set (the stack) suits both."""
    z = rng.normal(size=n)
    A = z[:, None] + rng.normal(size=(n, 5))
    B = rng.normal(size=(n, 1500))
    B[:, :300] += 0.15 * z[:, None]
    return np.hstack([A, B]), z + rng.normal(scale=0.5, size=n), (("A", 5), ("B", 1500))


def _held_out_r(make, combine: str) -> tuple[float, LanguageModel]:
    rng = np.random.default_rng(0)
    X, y, blocks = make(rng, 120)
    Xt, yt, _ = make(rng, 2000)
    m = LanguageRegressor(blocks, 0, combine).fit(X, y)
    return float(np.corrcoef(m.predict(Xt), yt)[0, 1]), m


def test_chooser_picks_plain_where_stacking_overfits():
    plain, _ = _held_out_r(_suppressor, "concat")
    stack, _ = _held_out_r(_suppressor, "stack")
    auto, model = _held_out_r(_suppressor, "auto")
    assert plain > 0.9 and stack < 0.3  # the premise: stacking fails here
    assert model.recipe_ == "plain" and np.isclose(auto, plain, rtol=1e-9)  # same fit, other route


def test_chooser_picks_the_stack_where_it_helps():
    plain, _ = _held_out_r(_penalties, "concat")
    stack, _ = _held_out_r(_penalties, "stack")
    auto, model = _held_out_r(_penalties, "auto")
    assert stack > plain + 0.03  # the premise: stacking helps here
    assert model.recipe_ == "stack" and np.isclose(auto, stack, rtol=1e-9)


def test_chosen_recipe_survives_saving():
    rng = np.random.default_rng(1)
    X, y, blocks = _penalties(rng, 120)
    m = LanguageRegressor(blocks, 0, "auto").fit(X, y)
    back = LanguageModel.from_state(*m.export_state())
    assert back.recipe_ == m.recipe_
    np.testing.assert_allclose(back.predict(X), m.predict(X), rtol=1e-10, atol=1e-10)


def test_binary_classification_chooser_and_probabilities():
    rng = np.random.default_rng(2)
    X, y, blocks = _suppressor(rng, 200)
    cls = (y > np.median(y)).astype(int)
    m = LanguageClassifier(blocks, 0, "auto", Cs=(0.01, 1.0), inner_folds=3).fit(X, cls)
    assert m.recipe_ == "plain"
    p = m.predict_proba(X)
    assert p.shape == (200, 2) and np.allclose(p.sum(axis=1), 1)


def test_stack_weights_are_non_negative_and_shrunk_toward_equal():
    rng = np.random.default_rng(3)
    n = 100
    good = rng.normal(size=n)
    y = good + rng.normal(scale=0.5, size=n)
    bad = -good + rng.normal(scale=2.0, size=n)  # anti-correlated: least squares weights it < 0
    w, _ = stack_weights(np.column_stack([good, bad]), y, 2, "regression")
    assert (w >= 0).all()
    assert w[1] > 0  # pulled toward the mean: never exactly zero with few users
    assert np.isclose(shrink_toward_equal(np.array([1.0, 0.0]), 100).sum(), 1.0)
    yb = (y > 0).astype(float)
    wb, _ = stack_weights(np.column_stack([good, bad]), yb, 2, "classification")
    assert (wb >= 0).all() and wb[0] > wb[1]
