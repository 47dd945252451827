"""The prediction models, as scikit-learn estimators (``fit``/``predict``/``get_params``).

The input of :class:`LanguageModel` is one CSR matrix whose columns are, in order, the
control variables and then each feature set (a *block*): ``[controls | set 1 | set 2 ...]``,
with the block widths given as a parameter. Everything learned from data (scales, PCA
axes, coefficients, the chosen penalty) is learned in ``fit`` from the rows it is given,
so cross-validation over the estimator cannot leak a test fold.

Fitting relies on scikit-learn; *predicting* uses only the learned numpy arrays, so a
model rebuilt from its saved arrays (:meth:`LanguageModel.from_state`) predicts exactly
as the fitted one did.

Standardising sparse features scales them to unit variance without subtracting the mean
(which would make them dense). Every downstream model has an unpenalised intercept, and
centring a column only moves that intercept, so the fitted predictions equal those on
fully standardised (centred) data, as DLATK computes them.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
# L2 logistic penalties tried by inner CV; spans DLATK's fixed C=0.01.
CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SEARCH_TOL = 1e-3  # lbfgs tolerance while choosing C by inner CV (scikit-learn's default: 1e-4)
DENSE_CELLS = 2_000_000  # a design up to this many cells (16 MB) is fitted as a dense array


def _csr(X: Any) -> sp.csr_matrix:
    return X.tocsr().astype(np.float64) if sp.issparse(X) else sp.csr_matrix(np.asarray(X, dtype=np.float64))


def _splits(widths: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    ends = np.cumsum([0, *widths])
    return [(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:], strict=True)]


def _inner_cv(task: str, n_folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "classification":
        return StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return KFold(n_folds, shuffle=True, random_state=seed)


def _signed_sqrt(X: sp.csr_matrix) -> sp.csr_matrix:
    """sign(x) sqrt(|x|) per cell: the square root for the non-negative values it is meant for,
    and still defined for a negative value in a set that had none on the training rows."""
    X = X.copy()
    X.data = np.sign(X.data) * np.sqrt(np.abs(X.data))
    return X


class BlockTransform(TransformerMixin, BaseEstimator):
    """One feature set: optional square root, standardisation, optional selection + PCA.

    ``sqrt='sqrt'`` takes the square root of the (relative-frequency) values when the set
    has no negative values (decided on the training rows: embeddings are left alone).
    ``reduce='pca'`` keeps the ``n_select`` features most associated with the outcome
    (univariate F test) and projects them on ``n_components`` principal axes.
    """

    def __init__(self, sqrt: str = "none", reduce: str = "none", n_select: int = 2000,
                 n_components: int = 200, task: str = "regression", random_state: int = 0) -> None:
        self.sqrt = sqrt
        self.reduce = reduce
        self.n_select = n_select
        self.n_components = n_components
        self.task = task
        self.random_state = random_state

    def fit(self, X: Any, y: np.ndarray) -> BlockTransform:
        from sklearn.preprocessing import StandardScaler

        X = _csr(X)
        self.sqrt_ = bool(self.sqrt == "sqrt" and X.nnz and X.min() >= 0)
        X = _signed_sqrt(X) if self.sqrt_ else X
        scaler = StandardScaler(with_mean=False).fit(X)
        self.mean_ = np.asarray(X.mean(axis=0)).ravel()
        self.scale_ = scaler.scale_
        self.support_ = None
        self.pca_mean_ = None
        self.components_ = None
        if self.reduce == "pca":
            from sklearn.decomposition import PCA
            from sklearn.feature_selection import SelectKBest, f_classif, f_regression

            Z = X @ sp.diags(1.0 / self.scale_)
            score = f_classif if self.task == "classification" else f_regression
            k = min(self.n_select, Z.shape[1])
            self.support_ = np.flatnonzero(SelectKBest(score, k=k).fit(Z, y).get_support())
            D = Z[:, self.support_].toarray()
            n_comp = max(1, min(self.n_components, D.shape[0] - 1, D.shape[1]))
            pca = PCA(n_comp, svd_solver="randomized", random_state=self.random_state).fit(D)
            self.pca_mean_ = pca.mean_
            self.components_ = pca.components_
        return self

    def transform(self, X: Any) -> sp.csr_matrix | np.ndarray:
        X = _csr(X)
        X = _signed_sqrt(X) if self.sqrt_ else X
        Z = X @ sp.diags(1.0 / self.scale_)
        if self.components_ is None:
            return sp.csr_matrix(Z)
        return (Z[:, self.support_].toarray() - self.pca_mean_) @ self.components_.T


class LinearHead(BaseEstimator):
    """Ridge regression with its penalty chosen by GCV, or L2 logistic regression.

    Classification with several ``Cs`` picks C by inner stratified CV on log-loss
    (``LogisticRegressionCV``); with
    one value it is fixed (``Cs=(0.01,)`` is DLATK's ``lr``).
    """

    def __init__(self, task: str = "regression", alphas: tuple[float, ...] = ALPHAS,
                 Cs: tuple[float, ...] = CS, inner_folds: int = 3, random_state: int = 0) -> None:
        self.task = task
        self.alphas = alphas
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state

    def fit(self, X: Any, y: np.ndarray) -> LinearHead:
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV

        if sp.issparse(X) and X.shape[0] * X.shape[1] <= DENSE_CELLS:
            # small designs solve several times faster dense (the sparse path's overhead
            # dominates: 0.11 s per ridge fit of 80 x 46 on the shared machine)
            X = X.toarray()
        if self.task == "regression":
            m = RidgeCV(alphas=list(self.alphas)).fit(X, y)
            self.coef_ = np.atleast_2d(m.coef_)
            self.intercept_ = np.atleast_1d(m.intercept_).astype(float)
            self.penalty_ = float(m.alpha_)
            return self
        C = self.Cs[0]
        if len(self.Cs) > 1:
            # The CV version walks the Cs with warm starts; searched at a looser tolerance and
            # without its refit, then one fit at the chosen C: on 880 users x 6,737 features
            # 3.8 s instead of 23 s (5 folds at full tolerance), the same C chosen.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9 API-change notices
                search = LogisticRegressionCV(
                    Cs=list(self.Cs), scoring="neg_log_loss", max_iter=5000, tol=SEARCH_TOL,
                    refit=False, cv=_inner_cv("classification", self.inner_folds, self.random_state)
                ).fit(X, y)
            # mean inner log-likelihood per C (folds x Cs; every class holds the same scores)
            C = self.Cs[int(np.argmax(next(iter(search.scores_.values())).mean(axis=0)))]
        m = LogisticRegression(C=C, max_iter=5000).fit(X, y)
        self.penalty_ = float(C)
        self.coef_ = m.coef_
        self.intercept_ = m.intercept_.astype(float)
        return self

    def decision(self, X: Any) -> np.ndarray:
        """Linear scores, shape (n, 1) for regression and binary classification, else (n, k)."""
        return np.asarray(X @ self.coef_.T) + self.intercept_


class BlockModel(BaseEstimator):
    """Several feature sets concatenated, each transformed, then one :class:`LinearHead`.

    ``head='ridge'`` with classification fits ridge regressions of the class indicators
    (one column for two classes) instead of a logistic regression: linear scores to be
    calibrated by a combining model (:class:`LanguageModel` always adds one then).
    """

    def __init__(self, widths: tuple[int, ...] = (), task: str = "regression", transform: str = "none",
                 reduce: str = "none", alphas: tuple[float, ...] = ALPHAS, Cs: tuple[float, ...] = CS,
                 inner_folds: int = 3, random_state: int = 0, head: str = "auto") -> None:
        self.widths = widths
        self.task = task
        self.transform = transform
        self.reduce = reduce
        self.alphas = alphas
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.head = head

    def _design(self, X: sp.csr_matrix) -> Any:
        parts = [t.transform(X[:, a:b]) for t, (a, b) in zip(self.transforms_, _splits(self.widths), strict=True)]
        if all(isinstance(p, np.ndarray) for p in parts):
            return np.hstack(parts)
        return sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")

    def fit(self, X: Any, y: np.ndarray) -> BlockModel:
        X = _csr(X)
        self.transforms_ = [
            BlockTransform(self.transform, self.reduce, task=self.task, random_state=self.random_state)
            .fit(X[:, a:b], y) for a, b in _splits(self.widths)
        ]
        ridge = self.task == "classification" and self.head == "ridge"
        self.head_ = LinearHead("regression" if ridge else self.task, self.alphas, self.Cs,
                                self.inner_folds, self.random_state)
        self.head_.fit(self._design(X), _indicators(y) if ridge else y)
        return self

    def decision(self, X: Any) -> np.ndarray:
        return self.head_.decision(self._design(_csr(X)))


def _indicators(y: np.ndarray) -> np.ndarray:
    """Class indices as 0/1 indicator columns; one column (class 1) for two classes."""
    k = int(y.max()) + 1
    Y = (y[:, None] == np.arange(max(k, 2))[None, :]).astype(float)
    return Y[:, 1] if Y.shape[1] == 2 else Y


class LanguageModel(BaseEstimator):
    """Predicts one outcome from feature sets (and optional controls).

    ``blocks``: ``((name, width), ...)`` of the feature-set columns after the first
    ``n_controls`` columns. ``combine='concat'`` fits one model on all sets side by side
    (DLATK's way, the *plain* recipe); ``'stack'`` fits one model per set and combines their
    out-of-fold predictions (``inner_folds`` CV inside the training rows) with a linear model
    whose member weights are non-negative and shrunk toward equal (:func:`stack_weights`);
    ``'auto'`` chooses between the two by that same inner CV (:meth:`fit` says how), so it
    falls back to the plain recipe where stacking does not clearly help, as with few users.
    Controls always enter that combining model, unpenalised and standardised;
    with controls and ``'concat'`` the language model is its single member.
    ``target_transform='log'`` fits log(y) and back-transforms predictions (regression).
    Classification expects ``y`` as class indices 0..k-1; ``member_head='ridge'`` makes
    each member a ridge regression of the class indicators (penalty by GCV: much cheaper
    than the inner CV of a logistic one), calibrated by the logistic combining model;
    ``'auto'`` does so for the members of a stack, whose combining model calibrates them
    anyway, and keeps the logistic head for a single plain model.
    """

    def __init__(self, blocks: tuple[tuple[str, int], ...] = (), n_controls: int = 0,
                 task: str = "regression", combine: str = "concat", transform: str = "none",
                 reduce: str = "none", target_transform: str = "none",
                 alphas: tuple[float, ...] = ALPHAS, Cs: tuple[float, ...] = CS,
                 inner_folds: int = 3, random_state: int = 0, member_head: str = "auto") -> None:
        self.blocks = blocks
        self.n_controls = n_controls
        self.task = task
        self.combine = combine
        self.transform = transform
        self.reduce = reduce
        self.target_transform = target_transform
        self.alphas = alphas
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.member_head = member_head

    def _recipe(self) -> str:
        """'plain' or 'stack': the one fitted ('auto' decides in :meth:`fit`)."""
        if self.combine == "auto":
            return getattr(self, "recipe_", "plain")
        return "stack" if self.combine == "stack" and len(self.blocks) > 1 else "plain"

    def _groups(self, recipe: str | None = None) -> list[list[int]]:
        n = len(self.blocks)
        return [[i] for i in range(n)] if (recipe or self._recipe()) == "stack" else [list(range(n))]

    def _head(self, recipe: str) -> str:
        if self.member_head != "auto" or self.task != "classification":
            return self.member_head
        return "ridge" if recipe == "stack" else "auto"

    def _needs_meta(self, recipe: str) -> bool:
        return (self.n_controls > 0 or len(self._groups(recipe)) > 1
                or (self.task == "classification" and self._head(recipe) == "ridge"))

    def _member_input(self, X: sp.csr_matrix, group: list[int]) -> sp.csr_matrix:
        spans = _splits([self.n_controls, *[w for _, w in self.blocks]])[1:]
        return sp.hstack([X[:, spans[i][0]:spans[i][1]] for i in group], format="csr")

    def _member(self, group: list[int], recipe: str | None = None, Cs: tuple[float, ...] | None = None
                ) -> BlockModel:
        return BlockModel(tuple(self.blocks[i][1] for i in group), self.task, self.transform,
                          self.reduce, self.alphas, Cs or self.Cs, self.inner_folds,
                          self.random_state, self._head(recipe or self._recipe()))

    def _meta_input(self, scores: list[np.ndarray], X: sp.csr_matrix) -> np.ndarray:
        C = X[:, :self.n_controls].toarray()
        return np.hstack([*scores, (C - self.control_mean_) / self.control_scale_])

    def _width(self) -> int:
        return 1 if self.task == "regression" or len(self.classes_) == 2 else len(self.classes_)

    def _inner_oof(self, X: sp.csr_matrix, yt: np.ndarray, groups: list[list[int]], recipe: str,
                   splits: list[tuple[np.ndarray, np.ndarray]],
                   Cs: tuple[float, ...] | None = None) -> list[np.ndarray]:
        """Out-of-fold linear scores (n, width) of each member over the inner ``splits``."""
        oof = [np.zeros((len(yt), self._width())) for _ in groups]
        for train, test in splits:
            for j, g in enumerate(groups):
                Xg = self._member_input(X, g)
                m = clone(self._member(g, recipe, Cs)).fit(Xg[train], yt[train])
                oof[j][test] = m.decision(Xg[test])
        return oof

    def fit(self, X: Any, y: np.ndarray) -> LanguageModel:
        """Fit on ``X`` (n, n_controls + sum of widths) and ``y`` (n,).

        With ``combine='auto'`` both recipes are scored on the same inner folds: the plain
        model's out-of-fold predictions, and the stack's, each combining model itself fitted
        on the other inner folds (squared error on the fitting scale, or log-loss). The stack
        is chosen only when its loss is lower than the plain model's by more than one
        standard error of the per-user difference; otherwise the simpler plain model. For a
        logistic plain model the inner fits reuse the penalty chosen on all rows, which
        favours the plain model slightly: the safe direction.
        """
        X = _csr(X)
        y = np.asarray(y)
        if self.task == "classification":
            self.classes_ = np.unique(y)
            yt = y
        else:
            yt = np.log(y) if self.target_transform == "log" else y.astype(float)
        C = X[:, :self.n_controls].toarray()
        self.control_mean_ = C.mean(axis=0)
        sd = C.std(axis=0)
        self.control_scale_ = np.where(sd > 0, sd, 1.0)
        splits = list(_inner_cv(self.task, self.inner_folds, self.random_state).split(X, y))
        if self.combine == "auto" and len(self.blocks) > 1:
            self._choose(X, yt, splits)
            return self
        recipe = self._recipe()
        groups = self._groups(recipe)
        self.use_meta_ = self._needs_meta(recipe)
        if self.use_meta_:
            oof = self._inner_oof(X, yt, groups, recipe, splits)
            self._fit_meta(self._meta_input(oof, X), yt)
        self.members_ = [self._member(g, recipe).fit(self._member_input(X, g), yt) for g in groups]
        return self

    def _choose(self, X: sp.csr_matrix, yt: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """:meth:`fit` for ``combine='auto'``: score both recipes, keep the better one."""
        plain_groups = self._groups("plain")
        plain = [self._member(g, "plain").fit(self._member_input(X, g), yt) for g in plain_groups]
        chosen = getattr(plain[0].head_, "penalty_", None)
        # a logistic plain member chose its C by inner CV on all rows; its inner fits reuse it
        fixed = ((chosen,) if self.task == "classification" and self._head("plain") != "ridge"
                 else None)
        plain_oof = self._inner_oof(X, yt, plain_groups, "plain", splits, fixed)
        stack_oof = self._inner_oof(X, yt, self._groups("stack"), "stack", splits)
        losses = {}
        for recipe, oof in (("plain", plain_oof), ("stack", stack_oof)):
            M = self._meta_input(oof, X)
            if self._needs_meta(recipe):
                pred = np.zeros((len(yt), self._width()))
                for train, test in splits:
                    self._fit_meta(M[train], yt[train])
                    pred[test] = M[test] @ self.meta_coef_.T + self.meta_intercept_
            else:
                pred = M
            losses[recipe] = self._loss(pred, yt)
        diff = losses["stack"] - losses["plain"]
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        self.recipe_ = "stack" if diff.mean() < -se else "plain"
        self.recipe_losses_ = {k: float(v.mean()) for k, v in losses.items()}
        self.use_meta_ = self._needs_meta(self.recipe_)
        if self.use_meta_:
            oof = stack_oof if self.recipe_ == "stack" else plain_oof
            self._fit_meta(self._meta_input(oof, X), yt)
        self.members_ = (plain if self.recipe_ == "plain" else
                         [self._member(g, "stack").fit(self._member_input(X, g), yt)
                          for g in self._groups("stack")])

    def _loss(self, scores: np.ndarray, yt: np.ndarray) -> np.ndarray:
        """Per-user loss of linear ``scores`` (n, width): squared error, or log-loss."""
        from scipy.special import log_expit, log_softmax

        if self.task == "regression":
            return (yt - scores[:, 0]) ** 2
        if scores.shape[1] == 1:
            s = scores[:, 0]
            return -np.where(yt == 1, log_expit(s), log_expit(-s))
        return -log_softmax(scores, axis=1)[np.arange(len(yt)), yt]

    def _fit_meta(self, M: np.ndarray, yt: np.ndarray) -> None:
        """The combining model on member scores ``M[:, :-n_controls]`` and the controls."""
        n_scores = M.shape[1] - self.n_controls
        width = self._width()
        if self.task == "classification" and width > 1:
            from sklearn.linear_model import LogisticRegression

            # several classes: each member gives one score per class; left unconstrained
            m = LogisticRegression(C=1e6, max_iter=5000).fit(M, yt)
            self.meta_coef_ = np.atleast_2d(m.coef_)
            self.meta_intercept_ = np.atleast_1d(m.intercept_).astype(float)
            return
        coef, intercept = stack_weights(M, yt, n_scores, self.task)
        self.meta_coef_ = coef[None, :]
        self.meta_intercept_ = np.array([intercept])

    def decision(self, X: Any) -> np.ndarray:
        """Linear scores on the fitting scale (log scale with a log target), shape (n, 1|k)."""
        X = _csr(X)
        scores = [m.decision(self._member_input(X, g)) for m, g in zip(self.members_, self._groups(), strict=True)]
        if not self.use_meta_:
            return scores[0]
        return self._meta_input(scores, X) @ self.meta_coef_.T + self.meta_intercept_

    def predict(self, X: Any) -> np.ndarray:
        """Regression: predicted outcome, shape (n,). Classification: class index, shape (n,)."""
        if self.task == "classification":
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        d = self.decision(X)[:, 0]
        return np.exp(d) if self.target_transform == "log" else d

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        from scipy.special import expit, softmax

        d = self.decision(X)
        if d.shape[1] == 1:
            p = expit(d[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(d, axis=1)

    # -- saving: parameters as JSON, learned values as named arrays -------------------------

    def export_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-ready description, named arrays) from which :meth:`from_state` rebuilds it."""
        arrays: dict[str, np.ndarray] = {}

        def put(name: str, value: np.ndarray | None) -> str | None:
            if value is None:
                return None
            arrays[name] = np.asarray(value)
            return name

        members = []
        for i, m in enumerate(self.members_):
            transforms = [
                {"sqrt": t.sqrt_, **{a: put(f"m{i}_t{j}_{a}", getattr(t, a)) for a in _TRANSFORM_ARRAYS}}
                for j, t in enumerate(m.transforms_)
            ]
            head = {"penalty": m.head_.penalty_, "coef": put(f"m{i}_coef", m.head_.coef_),
                    "intercept": put(f"m{i}_intercept", m.head_.intercept_)}
            members.append({"params": _jsonable(m.get_params()), "transforms": transforms, "head": head})
        state: dict[str, Any] = {
            "class": type(self).__name__, "params": _jsonable(self.get_params()),
            "members": members, "use_meta": self.use_meta_, "recipe": self._recipe(),
            "classes": put("classes", getattr(self, "classes_", None)),
        }
        if self.use_meta_:
            state["meta"] = {a: put(f"meta_{a}", getattr(self, a)) for a in _META_ARRAYS}
        return state, arrays

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> LanguageModel:
        """Rebuild a fitted model from :meth:`export_state` output (KeyError if incomplete)."""

        def get(name: str | None) -> np.ndarray | None:
            return None if name is None else arrays[name]

        model = cls(**_params(state["params"]))
        model.use_meta_ = bool(state["use_meta"])
        if model.combine == "auto":
            model.recipe_ = state["recipe"]
        if state.get("classes") is not None:
            model.classes_ = get(state["classes"])
        if model.use_meta_:
            for a in _META_ARRAYS:
                setattr(model, a, get(state["meta"][a]))
        model.members_ = []
        for ms in state["members"]:
            m = BlockModel(**_params(ms["params"]))
            m.transforms_ = []
            for ts in ms["transforms"]:
                t = BlockTransform()
                t.sqrt_ = bool(ts["sqrt"])
                for a in _TRANSFORM_ARRAYS:
                    setattr(t, a, get(ts[a]))
                m.transforms_.append(t)
            m.head_ = LinearHead(m.task)
            m.head_.penalty_ = ms["head"]["penalty"]
            m.head_.coef_ = get(ms["head"]["coef"])
            m.head_.intercept_ = get(ms["head"]["intercept"])
            model.members_.append(m)
        return model


def shrink_toward_equal(w: np.ndarray, n_rows: int) -> np.ndarray:
    """Non-negative member weights ``w`` (m,) pulled toward their mean by the share
    ``m / (m + sqrt(n_rows))``: much with few users (.29 for 4 members and 100 users), little
    with many (.11 at 1,000), so that a noisy combining fit cannot hand one member all the
    weight on a small sample. The sum of the weights is kept."""
    m = len(w)
    if m < 2:
        return w
    s = m / (m + np.sqrt(n_rows))
    return (1 - s) * w + s * w.mean()


def stack_weights(M: np.ndarray, yt: np.ndarray, n_scores: int, task: str) -> tuple[np.ndarray, float]:
    """Combining weights (p,) and intercept for ``M`` (n, p): ``n_scores`` member scores,
    then standardised controls. Member weights are non-negative (a member is a fit of the
    outcome; a negative weight only fits noise) and shrunk by :func:`shrink_toward_equal`;
    the controls and the intercept are then refitted, unpenalised, with those weights fixed.
    Least squares for regression, logistic log-likelihood for a binary ``yt`` in {0, 1}."""
    from scipy.optimize import lsq_linear, minimize
    from scipy.special import expit, log_expit

    n, p = M.shape
    lower = np.r_[np.zeros(n_scores), np.full(p - n_scores, -np.inf)]
    if task == "regression":
        mu, ybar = M.mean(axis=0), yt.mean()
        Mc, yc = M - mu, yt - ybar
        w = lsq_linear(Mc, yc, bounds=(lower, np.inf)).x if p else np.zeros(0)
        w[:n_scores] = shrink_toward_equal(w[:n_scores], n)
        if p > n_scores:
            rest = yc - Mc[:, :n_scores] @ w[:n_scores]
            w[n_scores:] = np.linalg.lstsq(Mc[:, n_scores:], rest, rcond=None)[0]
        return w, float(ybar - mu @ w)
    A = np.column_stack([np.ones(n), M])
    # a tiny ridge (as C=1e6 in scikit-learn) keeps the optimum finite under separation
    tiny = 1e-6

    def nll(b: np.ndarray, free: np.ndarray, base: np.ndarray) -> tuple[float, np.ndarray]:
        full = base.copy()
        full[free] = b
        eta = A @ full
        value = -(yt * log_expit(eta) + (1 - yt) * log_expit(-eta)).sum() + 0.5 * tiny * full[1:] @ full[1:]
        grad = A.T @ (expit(eta) - yt) + tiny * np.r_[0.0, full[1:]]
        return float(value), grad[free]

    everything = np.ones(p + 1, dtype=bool)
    bounds = [(None, None)] + [(0.0, None) if j < n_scores else (None, None) for j in range(p)]
    b = minimize(nll, np.zeros(p + 1), args=(everything, np.zeros(p + 1)), jac=True,
                 method="L-BFGS-B", bounds=bounds).x
    b[1:n_scores + 1] = shrink_toward_equal(b[1:n_scores + 1], n)
    free = everything.copy()
    free[1:n_scores + 1] = False  # member weights fixed; intercept and controls refitted
    b[free] = minimize(nll, b[free], args=(free, b), jac=True, method="L-BFGS-B").x
    return b[1:], float(b[0])


_TRANSFORM_ARRAYS = ("mean_", "scale_", "support_", "pca_mean_", "components_")
_META_ARRAYS = ("meta_coef_", "meta_intercept_", "control_mean_", "control_scale_")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        return v
    return {k: conv(v) for k, v in params.items()}


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the estimators take."""
    def conv(v: Any) -> Any:
        return tuple(conv(x) for x in v) if isinstance(v, list) else v
    return {k: conv(v) for k, v in params.items()}
