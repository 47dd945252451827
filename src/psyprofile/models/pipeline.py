"""The prediction models, as scikit-learn estimators that pass scikit-learn's own checks.

:class:`LanguageRegressor` and :class:`LanguageClassifier` (two faces of one
:class:`LanguageModel`) predict an outcome; :class:`BlockTransform` (a transformer) and
:class:`LinearHead` (a regressor or classifier by its ``task``) are their parts. The input of
a language model is one CSR matrix whose columns are, in order, the
control variables and then each feature set (a *block*): ``[controls | set 1 | set 2 ...]``,
with the block widths given as a parameter (default: all columns after the controls form one
block). Everything learned from data (scales, PCA
axes, coefficients, the chosen penalty) is learned in ``fit`` from the rows it is given,
so cross-validation over the estimator cannot leak a test fold.

Fitting relies on scikit-learn; *predicting* uses only the learned numpy arrays, so a
model rebuilt from its saved arrays (:meth:`LanguageModel.from_state`) predicts exactly
as the fitted one did. Every ``linear_scores`` method gives the scores before any link
function, shape (n, 1) or (n, k); scikit-learn's ``decision_function`` (classifiers only)
is the same scores in scikit-learn's shapes.

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
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from psyprofile.models import gram

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
# L2 logistic penalties tried by inner CV; spans DLATK's fixed C=0.01.
CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SEARCH_TOL = 1e-3  # lbfgs tolerance while choosing C by inner CV (scikit-learn's default: 1e-4)
DENSE_CELLS = 2_000_000  # a design up to this many cells (16 MB) is fitted as a dense array


TASKS = ("regression", "classification")


def _csr(X: Any) -> sp.csr_matrix:
    return X.tocsr().astype(np.float64) if sp.issparse(X) else sp.csr_matrix(np.asarray(X, dtype=np.float64))


def _rows(est: BaseEstimator, X: Any) -> sp.csr_matrix:
    """``X`` checked against what ``est`` was fitted on (2-D, finite, ``n_features_in_``
    columns), as CSR float64 (raises NotFittedError before fit)."""
    check_is_fitted(est)
    return _csr(validate_data(est, X, accept_sparse="csr", dtype=np.float64, reset=False))


def _fit_rows(est: BaseEstimator, X: Any, y: Any, **checks: Any) -> tuple[sp.csr_matrix, np.ndarray]:
    """``X`` (CSR float64) and ``y`` checked for fitting; records ``n_features_in_``."""
    X, y = validate_data(est, X, y, accept_sparse="csr", dtype=np.float64, **checks)
    return _csr(X), np.asarray(y)


def _choice(name: str, value: Any, options: tuple) -> None:
    if value not in options:
        raise ValueError(f"{name}={value!r}; choose one of {', '.join(map(repr, options))}")


def _task_tags(tags: Any, task: str, multi_output: bool = False) -> Any:
    """``tags`` (scikit-learn's) of a regressor or a classifier, as ``task`` says; sparse input."""
    from sklearn.utils import ClassifierTags, RegressorTags

    tags.input_tags.sparse = True
    tags.target_tags.required = True
    if task == "classification":
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.regressor_tags = None
    else:
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.classifier_tags = None
        tags.target_tags.multi_output = multi_output
    return tags


def _class_index(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, index of each label in them) of classification labels ``y`` (n,)."""
    from sklearn.utils.multiclass import check_classification_targets

    check_classification_targets(y)
    classes, yt = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"classification needs at least 2 classes; y holds {len(classes)} class")
    return classes, yt


def _sk_scores(d: np.ndarray) -> np.ndarray:
    """Linear scores (n, 1|k) in scikit-learn's ``decision_function`` shape: (n,) or (n, k)."""
    return d[:, 0] if d.shape[1] == 1 else d


def _class_proba(d: np.ndarray) -> np.ndarray:
    """Probabilities (n, k) from linear scores ``d`` (n, 1) for two classes or (n, k)."""
    from scipy.special import expit, softmax

    if d.shape[1] == 1:
        p = expit(d[:, 0])
        return np.column_stack([1 - p, p])
    return softmax(d, axis=1)


def _is_classifier(est: Any) -> bool:
    return est.task == "classification"


class _TaskScore:
    """``score`` of an estimator whose ``task`` makes it a regressor (R²) or a classifier
    (accuracy), as scikit-learn's mixins define them."""

    task: str

    def score(self, X: Any, y: Any, sample_weight: np.ndarray | None = None) -> float:
        """R² of ``predict(X)`` against ``y`` for regression, accuracy for classification."""
        from sklearn.metrics import accuracy_score, r2_score

        metric = accuracy_score if self.task == "classification" else r2_score
        return float(metric(y, self.predict(X), sample_weight=sample_weight))


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
    (univariate F test) and projects them on ``n_components`` principal axes; it needs
    ``y`` in :meth:`fit`.

    Input ``X`` (n, p), sparse or dense; :meth:`transform` gives (n, p) sparse standardised
    values (unit variance, not centred), or (n, n_components) dense PCA scores.
    """

    def __init__(self, sqrt: str = "none", reduce: str = "none", n_select: int = 2000,
                 n_components: int = 200, task: str = "regression", random_state: int = 0) -> None:
        self.sqrt = sqrt
        self.reduce = reduce
        self.n_select = n_select
        self.n_components = n_components
        self.task = task
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: Any, y: np.ndarray | None = None) -> BlockTransform:
        """Learn scales (and PCA axes) from ``X`` (n, p) and, for ``reduce='pca'``, ``y`` (n,)."""
        from sklearn.preprocessing import StandardScaler

        _choice("sqrt", self.sqrt, ("none", "sqrt"))
        _choice("reduce", self.reduce, ("none", "pca"))
        _choice("task", self.task, TASKS)
        if self.reduce == "pca":
            if y is None:
                raise ValueError("reduce='pca' selects features by their association with y: pass y")
            X, y = _fit_rows(self, X, y)
        else:
            X = _csr(validate_data(self, X, accept_sparse="csr", dtype=np.float64))
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
        """``X`` (n, p) transformed: (n, p) sparse, or (n, n_components) dense with PCA."""
        X = _rows(self, X)
        X = _signed_sqrt(X) if self.sqrt_ else X
        Z = X @ sp.diags(1.0 / self.scale_)
        if self.components_ is None:
            return sp.csr_matrix(Z)
        return (Z[:, self.support_].toarray() - self.pca_mean_) @ self.components_.T


class LinearHead(_TaskScore, BaseEstimator):
    """Ridge regression with its penalty chosen by GCV, or L2 logistic regression.

    A regressor for ``task='regression'`` (``y`` (n,) or (n, k) outcomes), a classifier for
    ``'classification'`` (any labels). Classification with several ``Cs`` picks C by inner
    stratified CV on log-loss (``LogisticRegressionCV``); with one value it is fixed
    (``Cs=(0.01,)`` is DLATK's ``lr``).
    """

    def __init__(self, task: str = "regression", alphas: tuple[float, ...] = ALPHAS,
                 Cs: tuple[float, ...] = CS, inner_folds: int = 3, random_state: int = 0) -> None:
        self.task = task
        self.alphas = alphas
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        return _task_tags(super().__sklearn_tags__(), self.task, multi_output=True)

    def fit(self, X: Any, y: np.ndarray) -> LinearHead:
        """Fit on ``X`` (n, p), sparse or dense, and ``y``: outcomes (n,) or (n, k), or labels (n,)."""
        from sklearn.linear_model import RidgeCV

        _choice("task", self.task, TASKS)
        regression = self.task == "regression"
        X, y = _fit_rows(self, X, y, y_numeric=regression, multi_output=regression)
        if regression:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        else:
            self.classes_ = _class_index(y)[0]
        if sp.issparse(X) and X.shape[0] * X.shape[1] <= DENSE_CELLS:
            # small designs solve several times faster dense (the sparse path's overhead
            # dominates: 0.11 s per ridge fit of 80 x 46 on the shared machine)
            X = X.toarray()
        if regression and sp.issparse(X) and X.shape[1] > X.shape[0]:
            # wide sparse text: RidgeCV's own Gram is a sparse product 5x slower than BLAS
            # on densified column blocks; the same leave-one-out choice, same coefficients
            fitted = gram.ridge(gram.of(X), y, self.alphas)
            self.coef_, self.intercept_ = gram.primal(fitted, [X])
            self.penalty_ = fitted.alpha
            return self
        if regression:
            m = RidgeCV(alphas=list(self.alphas)).fit(X, y)
            self.coef_ = np.atleast_2d(m.coef_)
            self.intercept_ = np.atleast_1d(m.intercept_).astype(float)
            self.penalty_ = float(m.alpha_)
            return self
        coords = None
        if sp.issparse(X) and _coordinates_pay(*X.shape, X.nnz):
            # wide sparse text: fitted on the rows' n principal coordinates, the same problem
            # (gram.principal_coordinates) at a fraction of the cost of p sparse columns
            coords = gram.principal_coordinates(X)
        self._fit_logistic(X, y, coords)
        return self

    def _fit_logistic(self, X: Any, y: np.ndarray, coords: tuple[np.ndarray, np.ndarray] | None = None,
                      blocks: list[Any] | None = None) -> None:
        """The L2 logistic fit of :meth:`fit` on ``X`` (n, p), or on its principal coordinates
        ``coords = (F, back)`` (:func:`gram.principal_coordinates`; ``X`` then as its column
        ``blocks`` (n, p_i) if given): ``penalty_``, ``coef_`` (k, p), ``intercept_``."""
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

        design = X if coords is None else coords[0]
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
                ).fit(design, y)
            # mean inner log-likelihood per C (folds x Cs; every class holds the same scores)
            C = self.Cs[int(np.argmax(next(iter(search.scores_.values())).mean(axis=0)))]
        m = LogisticRegression(C=C, max_iter=5000).fit(design, y)
        self.penalty_ = float(C)
        self.coef_ = (m.coef_ if coords is None
                      else gram.weights(coords[1] @ m.coef_.T, blocks if blocks is not None else [X]))
        self.intercept_ = m.intercept_.astype(float)

    def linear_scores(self, X: Any) -> np.ndarray:
        """Linear scores of ``X`` (n, p): (n, 1) for one outcome or two classes, else (n, k)."""
        return np.asarray(_rows(self, X) @ self.coef_.T) + self.intercept_

    def predict(self, X: Any) -> np.ndarray:
        """Regression: the outcome, (n,) or (n, k). Classification: the label, (n,)."""
        d = self.linear_scores(X)
        if self.task == "regression":
            return _sk_scores(d)
        return self.classes_[(d[:, 0] > 0).astype(int) if d.shape[1] == 1 else d.argmax(axis=1)]

    @available_if(_is_classifier)
    def decision_function(self, X: Any) -> np.ndarray:
        """Classification: log-odds of ``classes_[1]`` (n,) for two classes, else (n, k)."""
        return _sk_scores(self.linear_scores(X))

    @available_if(_is_classifier)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Classification: probabilities (n, n_classes) in the order of ``classes_``."""
        return _class_proba(self.linear_scores(X))


class BlockModel(BaseEstimator):
    """Several feature sets concatenated, each transformed, then one :class:`LinearHead`.

    ``head='ridge'`` with classification fits ridge regressions of the class indicators
    (one column for two classes) instead of a logistic regression: linear scores to be
    calibrated by a combining model (:class:`LanguageModel` always adds one then).
    ``widths``: the sets' numbers of columns (default: one set of all columns). A part of
    :class:`LanguageModel`, fitted on class indices 0..k-1; it gives linear scores only.
    """

    def __init__(self, widths: tuple[int, ...] = (), task: str = "regression", sqrt: str = "none",
                 reduce: str = "none", alphas: tuple[float, ...] = ALPHAS, Cs: tuple[float, ...] = CS,
                 inner_folds: int = 3, random_state: int = 0, head: str = "auto") -> None:
        self.widths = widths
        self.task = task
        self.sqrt = sqrt
        self.reduce = reduce
        self.alphas = alphas
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.head = head

    def _design(self, X: sp.csr_matrix) -> Any:
        parts = [t.transform(X[:, a:b]) for t, (a, b) in zip(self.transforms_, _splits(self.widths_), strict=True)]
        if all(isinstance(p, np.ndarray) for p in parts):
            return np.hstack(parts)
        return sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")

    def fit(self, X: Any, y: np.ndarray) -> BlockModel:
        """Fit on ``X`` (n, sum of widths) and ``y`` (n,): outcomes, or class indices."""
        X, y = _fit_rows(self, X, y, y_numeric=True)
        self.widths_ = tuple(self.widths) or (X.shape[1],)
        if sum(self.widths_) != X.shape[1]:
            raise ValueError(f"widths {self.widths_} sum to {sum(self.widths_)}, but X has {X.shape[1]} columns")
        self.transforms_ = [
            BlockTransform(self.sqrt, self.reduce, task=self.task, random_state=self.random_state)
            .fit(X[:, a:b], y) for a, b in _splits(self.widths_)
        ]
        ridge = self.task == "classification" and self.head == "ridge"
        self.head_ = LinearHead("regression" if ridge else self.task, self.alphas, self.Cs,
                                self.inner_folds, self.random_state)
        self.head_.fit(self._design(X), _indicators(y) if ridge else y)
        return self

    def linear_scores(self, X: Any) -> np.ndarray:
        """Linear scores of ``X`` (n, sum of widths): (n, 1) or (n, k) (see :class:`LinearHead`)."""
        return self.head_.linear_scores(self._design(_rows(self, X)))


def _coordinates_pay(n: int, p: int, nnz: int) -> bool:
    """Whether an L2 logistic fit of a sparse (n, p) design with ``nnz`` non-zeros is cheaper
    on its n principal coordinates (:func:`gram.principal_coordinates`): when it is wider
    than tall and holds over 2 n^2 non-zeros, so that its every gradient step costs over
    twice a dense (n, n) one. On 880 bloggers x 53,176 columns (11M non-zeros) the fit was
    12x faster so; on 2,200 pseudo-users x 4,814 columns (5.5M) the sparse fit was 2x faster."""
    return p > n and nnz > 2 * n**2


def _indicators(y: np.ndarray) -> np.ndarray:
    """Class indices as 0/1 indicator columns; one column (class 1) for two classes."""
    k = int(y.max()) + 1
    Y = (y[:, None] == np.arange(max(k, 2))[None, :]).astype(float)
    return Y[:, 1] if Y.shape[1] == 2 else Y


class _SetGrams:
    """Per feature set of a language model's rows ``X``: its :class:`BlockTransform` fitted on
    all of them, the transformed set ``Z[i]`` (n, p_i) and its Gram ``Z[i] Z[i]^T`` (n, n).

    A ridge fit of any group of sets on any subset of the rows (an inner CV fold) is then a fit
    on sub-blocks of the sum of the group's Grams (:mod:`psyprofile.models.gram`): one Gram per set serves
    the plain model and every member, in every inner fold. The inner fits so standardise with
    the scales of all the rows rather than of their own training rows; a scale uses no
    outcome, so none leaks, and a column's spread over two thirds of the rows or all of them
    differs little."""

    def __init__(self, model: LanguageModel, X: sp.csr_matrix, yt: np.ndarray) -> None:
        self.target = model._ridge_target(yt)  # what every ridge fit of these rows predicts
        self.alphas = model.alphas
        spans = model._spans()
        self.transforms = [BlockTransform(model.sqrt, model.reduce, task=model.task,
                                          random_state=model.random_state).fit(X[:, a:b])
                           for a, b in spans]
        self.Z = [t.transform(X[:, a:b]) for t, (a, b) in zip(self.transforms, spans, strict=True)]
        self.grams = [gram.of(z) for z in self.Z]
        self._coordinates: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._ridges: dict[tuple[int, ...], gram.DualRidge] = {}

    def ridge(self, group: list[int]) -> gram.DualRidge:
        """:func:`gram.ridge` of :attr:`target` on the sets of ``group`` over all the rows,
        penalty chosen among the model's alphas (kept per group)."""
        key = tuple(group)
        if key not in self._ridges:
            self._ridges[key] = gram.ridge(self.gram(group), self.target, self.alphas)
        return self._ridges[key]

    def coordinates(self, group: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """:func:`gram.principal_coordinates` of the sets of ``group`` side by side (kept)."""
        key = tuple(group)
        if key not in self._coordinates:
            self._coordinates[key] = gram.principal_coordinates(None, self.gram(group))
        return self._coordinates[key]

    def gram(self, group: list[int]) -> np.ndarray:
        """The Gram of the sets of ``group`` side by side (n, n): the sum of theirs."""
        K = self.grams[group[0]]
        for i in group[1:]:
            K = K + self.grams[i]
        return K


class LanguageModel(BaseEstimator):
    """Predicts one outcome from feature sets (and optional controls): the common part of
    :class:`LanguageRegressor` and :class:`LanguageClassifier`, which are what to build
    (:meth:`for_task` picks one by task name).

    ``X`` is (n, n_controls + sum of widths), sparse or dense. ``blocks``: ``((name, width),
    ...)`` of the feature-set columns after the first ``n_controls`` columns (default: one
    set, ``'features'``, of all of them). ``sqrt='sqrt'`` takes square roots of the sets
    without negative values (:class:`BlockTransform`). ``combine='concat'`` fits one model on all sets side by side
    (DLATK's way, the *plain* recipe); ``'stack'`` fits one model per set and combines their
    out-of-fold predictions (``inner_folds`` CV inside the training rows) with a linear model
    whose member weights are non-negative and shrunk toward equal (:func:`stack_weights`);
    ``'auto'`` chooses between the two by that same inner CV (:meth:`fit` says how), so it
    falls back to the plain recipe where stacking does not clearly help, as with few users.
    Controls always enter that combining model, unpenalised and standardised;
    with controls and ``'concat'`` the language model is its single member.
    ``target_transform='log'`` fits log(y) and back-transforms predictions (regression).
    Classification takes any labels (``classes_``); ``member_head='ridge'`` makes
    each member a ridge regression of the class indicators (penalty by GCV: much cheaper
    than the inner CV of a logistic one), calibrated by the logistic combining model;
    ``'auto'`` does so for the members of a stack, whose combining model calibrates them
    anyway, and keeps the logistic head for a single plain model.
    """

    task: str  # each subclass's
    # what the task without such a parameter uses (a regressor has no classes to fit)
    target_transform = "none"
    Cs: tuple[float, ...] = CS
    member_head = "auto"

    @classmethod
    def for_task(cls, task: str, **params: Any) -> LanguageModel:
        """A :class:`LanguageRegressor` or :class:`LanguageClassifier` with ``params``; a
        parameter only the other task has (``Cs`` for a regressor) is left out."""
        _choice("task", task, TASKS)
        kind = LanguageClassifier if task == "classification" else LanguageRegressor
        other = (LanguageRegressor if kind is LanguageClassifier else LanguageClassifier)._get_param_names()
        own = kind._get_param_names()
        return kind(**{k: v for k, v in params.items() if k in own or k not in other})

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _recipe(self) -> str:
        """'plain' or 'stack': the one fitted ('auto' decides in :meth:`fit`)."""
        if self.combine == "auto":
            return getattr(self, "recipe_", "plain")
        return "stack" if self.combine == "stack" and len(self.blocks_) > 1 else "plain"

    def _groups(self, recipe: str | None = None) -> list[list[int]]:
        n = len(self.blocks_)
        return [[i] for i in range(n)] if (recipe or self._recipe()) == "stack" else [list(range(n))]

    def _head(self, recipe: str) -> str:
        if self.task != "classification":
            return "auto"
        if self.member_head != "auto":
            return self.member_head
        return "ridge" if recipe == "stack" else "auto"

    def _needs_meta(self, recipe: str) -> bool:
        return (self.n_controls > 0 or len(self._groups(recipe)) > 1
                or (self.task == "classification" and self._head(recipe) == "ridge"))

    def _spans(self) -> list[tuple[int, int]]:
        """The columns ``[a, b)`` of ``X`` that each feature set holds, after the controls."""
        return _splits([self.n_controls, *[w for _, w in self.blocks_]])[1:]

    def _member_input(self, X: sp.csr_matrix, group: list[int]) -> sp.csr_matrix:
        spans = self._spans()
        return sp.hstack([X[:, spans[i][0]:spans[i][1]] for i in group], format="csr")

    def _member(self, group: list[int], recipe: str | None = None, Cs: tuple[float, ...] | None = None
                ) -> BlockModel:
        return BlockModel(tuple(self.blocks_[i][1] for i in group), self.task, self.sqrt,
                          self.reduce, self.alphas, Cs or self.Cs, self.inner_folds,
                          self.random_state, self._head(recipe or self._recipe()))

    def _meta_input(self, scores: list[np.ndarray], X: sp.csr_matrix) -> np.ndarray:
        C = X[:, :self.n_controls].toarray()
        return np.hstack([*scores, (C - self.control_mean_) / self.control_scale_])

    def _width(self) -> int:
        return 1 if self.task == "regression" or len(self.classes_) == 2 else len(self.classes_)

    def _by_gram(self, recipe: str, X: sp.csr_matrix) -> bool:
        """Whether :class:`_SetGrams` serves ``recipe``'s members on ``X``: not with the
        outcome-driven PCA, whose selection must see only each fit's own rows; ridge members
        always, logistic ones where their principal coordinates pay (:func:`_coordinates_pay`)."""
        if self.reduce != "none":
            return False
        if self._ridge(recipe):
            return True
        # each group's width and non-zeros from X's per-column counts: no copy of its columns
        per_column = np.bincount(X.indices, minlength=X.shape[1])
        spans = self._spans()
        return all(_coordinates_pay(X.shape[0], sum(spans[i][1] - spans[i][0] for i in g),
                                    int(sum(per_column[slice(*spans[i])].sum() for i in g)))
                   for g in self._groups(recipe))

    def _ridge(self, recipe: str) -> bool:
        """Whether ``recipe``'s members are ridge fits (else logistic ones)."""
        return self.task == "regression" or self._head(recipe) == "ridge"

    def _ridge_target(self, yt: np.ndarray) -> np.ndarray:
        return _indicators(yt) if self.task == "classification" else yt

    def _gram_member(self, group: list[int], recipe: str, sets: _SetGrams, yt: np.ndarray) -> BlockModel:
        """The member of ``group`` fitted on every row of ``sets``: what
        ``self._member(group, recipe).fit(...)`` gives, from the sets' Grams."""
        m = self._member(group, recipe)
        m.widths_ = tuple(self.blocks_[i][1] for i in group)
        m.n_features_in_ = sum(m.widths_)
        m.transforms_ = [sets.transforms[i] for i in group]
        blocks = [sets.Z[i] for i in group]
        if self._ridge(recipe):
            fitted = sets.ridge(group)
            m.head_ = LinearHead("regression", self.alphas, self.Cs, self.inner_folds, self.random_state)
            m.head_.coef_, m.head_.intercept_ = gram.primal(fitted, blocks)
            m.head_.penalty_ = fitted.alpha
            m.head_.n_outputs_ = m.head_.coef_.shape[0]
        else:
            m.head_ = LinearHead("classification", self.alphas, self.Cs, self.inner_folds, self.random_state)
            m.head_._fit_logistic(None, yt, sets.coordinates(group), blocks)
            m.head_.classes_ = np.unique(yt)
        m.head_.n_features_in_ = m.n_features_in_
        return m

    def _inner_oof(self, X: sp.csr_matrix, yt: np.ndarray, groups: list[list[int]], recipe: str,
                   splits: list[tuple[np.ndarray, np.ndarray]],
                   Cs: tuple[float, ...] | None = None, sets: _SetGrams | None = None
                   ) -> list[np.ndarray]:
        """Out-of-fold linear scores (n, width) of each member over the inner ``splits``.

        Where :meth:`_by_gram`, members are fitted from ``sets`` (default: made here): a ridge
        member's inner fits keep the penalty RidgeCV chooses on all the rows (one eigen-
        decomposition per member, then exact held-out predictions without refitting), a
        logistic one chooses its C among ``Cs`` (default ``self.Cs``) in each inner fit, on the
        group's principal coordinates."""
        oof = [np.zeros((len(yt), self._width())) for _ in groups]
        if self._by_gram(recipe, X):
            sets = sets or _SetGrams(self, X, yt)
            for j, g in enumerate(groups):
                if self._ridge(recipe):
                    scores = sets.ridge(g).fold_predictions(splits)
                    oof[j] = scores.reshape(len(yt), -1)
                    continue
                F = sets.coordinates(g)[0]
                for train, test in splits:
                    head = LinearHead("classification", self.alphas, Cs or self.Cs, self.inner_folds,
                                      self.random_state)
                    head._fit_logistic(F[train], yt[train])
                    oof[j][test] = F[test] @ head.coef_.T + head.intercept_
            return oof
        inputs = [self._member_input(X, g) for g in groups]  # once, not once per inner fold
        for train, test in splits:
            for j, (g, Xg) in enumerate(zip(groups, inputs, strict=True)):
                m = clone(self._member(g, recipe, Cs)).fit(Xg[train], yt[train])
                oof[j][test] = m.linear_scores(Xg[test])
        return oof

    def fit(self, X: Any, y: np.ndarray) -> LanguageModel:
        """Fit on ``X`` (n, n_controls + sum of widths) and ``y`` (n,): outcomes or labels.

        With ``combine='auto'`` both recipes are scored on the same inner folds: the plain
        model's out-of-fold predictions, and the stack's, each combining model itself fitted
        on the other inner folds (squared error on the fitting scale, or log-loss). The stack
        is chosen only when its loss is lower than the plain model's by more than one
        standard error of the per-user difference; otherwise the simpler plain model. Where
        the feature sets' Grams serve the fits (:meth:`_by_gram`), every ridge member's inner
        fits, plain and stack alike, keep the penalty chosen on all the rows, so that shortcut
        favours neither recipe. A logistic plain model's inner fits also reuse its C chosen on
        all rows while logistic stack members choose theirs in each inner fit: that favours
        the plain model slightly, the safe direction.
        """
        _choice("combine", self.combine, ("concat", "stack", "auto"))
        _choice("target_transform", self.target_transform, ("none", "log"))
        _choice("member_head", self.member_head, ("auto", "ridge"))
        classify = self.task == "classification"
        X, y = _fit_rows(self, X, y, y_numeric=not classify)
        n_free = X.shape[1] - self.n_controls
        self.blocks_ = tuple((str(b), int(w)) for b, w in self.blocks) or (("features", n_free),)
        if n_free < 1 or sum(w for _, w in self.blocks_) != n_free:
            raise ValueError(f"X has {X.shape[1]} feature(s) (columns): n_controls={self.n_controls} and blocks "
                             f"of widths {[w for _, w in self.blocks_]} do not add up to them")
        if classify:
            self.classes_, yt = _class_index(y)
        elif self.target_transform == "log":
            if not (y > 0).all():
                raise ValueError("target_transform='log' needs outcomes above 0")
            yt = np.log(y)
        else:
            yt = y.astype(float)
        C = X[:, :self.n_controls].toarray()
        self.control_mean_ = C.mean(axis=0)
        sd = C.std(axis=0)
        self.control_scale_ = np.where(sd > 0, sd, 1.0)
        splits = list(_inner_cv(self.task, self.inner_folds, self.random_state).split(X, y))
        if self.combine == "auto" and len(self.blocks_) > 1:
            self._choose(X, yt, splits)
            return self
        recipe = self._recipe()
        groups = self._groups(recipe)
        self.use_meta_ = self._needs_meta(recipe)
        # with inner CV, one Gram per set serves the inner fits and the final members
        sets = _SetGrams(self, X, yt) if self.use_meta_ and self._by_gram(recipe, X) else None
        if self.use_meta_:
            oof = self._inner_oof(X, yt, groups, recipe, splits, sets=sets)
            self._fit_meta(self._meta_input(oof, X), yt)
        self.members_ = self._fit_members(X, yt, recipe, sets)
        return self

    def _choose(self, X: sp.csr_matrix, yt: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """:meth:`fit` for ``combine='auto'``: score both recipes, keep the better one."""
        # one Gram per set serves both candidates' fits, inner and final
        sets = _SetGrams(self, X, yt) if self._by_gram("plain", X) or self._by_gram("stack", X) else None
        plain_groups = self._groups("plain")
        plain = self._fit_members(X, yt, "plain", sets)
        chosen = getattr(plain[0].head_, "penalty_", None)
        # a logistic plain member chose its C by inner CV on all rows; its inner fits reuse it
        fixed = ((chosen,) if self.task == "classification" and self._head("plain") != "ridge"
                 else None)
        plain_oof = self._inner_oof(X, yt, plain_groups, "plain", splits, fixed, sets)
        stack_oof = self._inner_oof(X, yt, self._groups("stack"), "stack", splits, sets=sets)
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
        self.members_ = plain if self.recipe_ == "plain" else self._fit_members(X, yt, "stack", sets)

    def _fit_members(self, X: sp.csr_matrix, yt: np.ndarray, recipe: str, sets: _SetGrams | None
                     ) -> list[BlockModel]:
        """``recipe``'s members fitted on all rows, from ``sets`` where :meth:`_by_gram`."""
        if sets is not None and self._by_gram(recipe, X):
            return [self._gram_member(g, recipe, sets, yt) for g in self._groups(recipe)]
        return [self._member(g, recipe).fit(self._member_input(X, g), yt) for g in self._groups(recipe)]

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

    def linear_scores(self, X: Any) -> np.ndarray:
        """Linear scores on the fitting scale (log scale with a log target), shape (n, 1) for
        an outcome or two classes (log-odds of ``classes_[1]``), else (n, k)."""
        check_is_fitted(self, "members_")
        X = _rows(self, X)
        scores = [m.linear_scores(self._member_input(X, g))
                  for m, g in zip(self.members_, self._groups(), strict=True)]
        if not self.use_meta_:
            return scores[0]
        return self._meta_input(scores, X) @ self.meta_coef_.T + self.meta_intercept_

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
            "class": type(self).__name__, "params": _jsonable({**self.get_params(), "task": self.task}),
            "members": members, "use_meta": self.use_meta_, "recipe": self._recipe(),
            "classes": put("classes", getattr(self, "classes_", None)),
        }
        if self.use_meta_:
            state["meta"] = {a: put(f"meta_{a}", getattr(self, a)) for a in _META_ARRAYS}
        return state, arrays

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> LanguageModel:
        """Rebuild a fitted model from :meth:`export_state` output (KeyError if incomplete).

        The ``task`` in its parameters picks the class, so the files of the single
        ``LanguageModel`` class of earlier versions load as one of the two."""

        def get(name: str | None) -> np.ndarray | None:
            return None if name is None else arrays[name]

        params = _params(state["params"])
        model = LanguageModel.for_task(params.pop("task"), **params)
        if not isinstance(model, cls):
            raise ValueError(f"the saved model is a {type(model).__name__}, not a {cls.__name__}")
        model.blocks_ = tuple(model.blocks)
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
            m.widths_ = tuple(m.widths)
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
        if not model.blocks:  # fitted on the default, one set of all columns: a single member
            model.blocks_ = (("features", sum(model.members_[0].widths_)),)
        # so that predicting checks X's width, as on the model that was saved
        model.n_features_in_ = model.n_controls + sum(w for _, w in model.blocks_)
        return model


# The numpydoc entries of the parameters both faces of LanguageModel take first, in the
# same order: one text for both class docstrings. scikit-learn needs each face's own
# explicit __init__, but not its documentation written twice.
_SHARED_PARAMETERS = """
    Parameters
    ----------
    blocks : tuple of (str, int)
        Names and widths of the feature sets after the controls (default: one set of all).
    n_controls : int
        Leading columns of ``X`` that are control variables (standardised, unpenalised).
    combine : {'concat', 'stack', 'auto'}
        One model on all sets, one per set combined, or the better of the two by inner CV.
    sqrt : {'none', 'sqrt'}
        Square roots of the sets without negative values (relative frequencies).
    reduce : {'none', 'pca'}
        Univariate selection then PCA per set (:class:`BlockTransform`).
"""


class LanguageRegressor(RegressorMixin, LanguageModel):
    __doc__ = """A :class:`LanguageModel` of one continuous outcome ``y`` (n,), in any unit.

    ``X`` is (n, n_controls + sum of widths), sparse or dense. :meth:`predict` gives the
    outcome (n,) in the unit of ``y``; :meth:`linear_scores` (n, 1) the fitted scale.
    """ + _SHARED_PARAMETERS + """\
    target_transform : {'none', 'log'}
        Fit log(y) (y > 0) and predict exp of the fitted scores.
    alphas : tuple of float
        Ridge penalties, chosen per member by generalised cross-validation.
    inner_folds, random_state : int
        The inner cross-validation of stacking and of ``combine='auto'``.
    """

    task = "regression"

    def __init__(self, blocks: tuple[tuple[str, int], ...] = (), n_controls: int = 0,
                 combine: str = "concat", sqrt: str = "none", reduce: str = "none",
                 target_transform: str = "none", alphas: tuple[float, ...] = ALPHAS,
                 inner_folds: int = 3, random_state: int = 0) -> None:
        self.blocks = blocks
        self.n_controls = n_controls
        self.combine = combine
        self.sqrt = sqrt
        self.reduce = reduce
        self.target_transform = target_transform
        self.alphas = alphas
        self.inner_folds = inner_folds
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = _task_tags(super().__sklearn_tags__(), self.task)
        tags.target_tags.positive_only = self.target_transform == "log"
        return tags

    def predict(self, X: Any) -> np.ndarray:
        """The predicted outcome of each row of ``X``, shape (n,), in the unit of ``y``."""
        d = self.linear_scores(X)[:, 0]
        return np.exp(d) if self.target_transform == "log" else d


class LanguageClassifier(ClassifierMixin, LanguageModel):
    __doc__ = """A :class:`LanguageModel` of class labels ``y`` (n,): any labels, two or more classes.

    ``X`` is (n, n_controls + sum of widths), sparse or dense. :meth:`predict_proba` gives
    (n, n_classes) probabilities in the order of ``classes_``; :meth:`decision_function` the
    log-odds of ``classes_[1]`` (n,) for two classes, else (n, n_classes) scores.
    """ + _SHARED_PARAMETERS + """\
    alphas : tuple of float
        Ridge penalties of ridge members (``member_head='ridge'``).
    Cs : tuple of float
        Inverse L2 penalties of logistic members, chosen by inner CV on log-loss.
    inner_folds, random_state : int
        The inner cross-validation (stratified).
    member_head : {'auto', 'ridge'}
        Members as ridge fits of the class indicators, calibrated by the combining model;
        'auto' does so for the members of a stack.
    """

    task = "classification"

    def __init__(self, blocks: tuple[tuple[str, int], ...] = (), n_controls: int = 0,
                 combine: str = "concat", sqrt: str = "none", reduce: str = "none",
                 alphas: tuple[float, ...] = ALPHAS, Cs: tuple[float, ...] = CS,
                 inner_folds: int = 3, random_state: int = 0, member_head: str = "auto") -> None:
        self.blocks = blocks
        self.n_controls = n_controls
        self.combine = combine
        self.sqrt = sqrt
        self.reduce = reduce
        self.alphas = alphas
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.member_head = member_head

    def __sklearn_tags__(self) -> Any:
        return _task_tags(super().__sklearn_tags__(), self.task)

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of ``classes_[1]``, shape (n,), for two classes; else (n, k) scores."""
        return _sk_scores(self.linear_scores(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        return _class_proba(self.linear_scores(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each row of ``X``, shape (n,)."""
        best = self.predict_proba(X).argmax(axis=1)  # before classes_: unfitted says so
        return self.classes_[best]


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


# parameters renamed since models were first saved: old name -> new
_RENAMED = {"transform": "sqrt"}  # 'transform' made scikit-learn take the models for transformers


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the estimators take, under today's parameter names."""
    def conv(v: Any) -> Any:
        return tuple(conv(x) for x in v) if isinstance(v, list) else v
    return {_RENAMED.get(k, k): conv(v) for k, v in params.items()}
