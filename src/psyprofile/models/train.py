"""Cross-validated training of one outcome from feature sets: data, folds, CV, report.

:func:`load_training_data` picks the users (outcome present, enough words, controls
present, in the fold file if one is given; every exclusion counted), builds the design
matrix ``[controls | set 1 | set 2 ...]`` and the folds. :func:`train` runs the
cross-validation of :class:`~psyprofile.models.pipeline.LanguageModel` over those folds,
scores the out-of-fold predictions with bootstrap CIs, and optionally fits the final
model on every user for saving.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from psyprofile.errors import PsyprofileError
from psyprofile.models import metrics
from psyprofile.models.folds import assign_folds, make_folds, read_fold_file
from psyprofile.models.pipeline import ALPHAS, CS, LanguageModel
from psyprofile.store.workspace import Workspace

MAX_CLASSES = 20
RECIPE_RULES = {
    "concat": "plain: one model over all feature sets side by side",
    "stack": "stack: one model per feature set, combined with non-negative weights shrunk "
             "toward equal",
    "auto": "auto: plain or stack, whichever the inner cross-validation of each training fold "
            "finds better (the stack only if better by more than one standard error)",
}


@dataclass
class TrainOptions:
    """What to train; the CLI options of ``psyprofile train`` map one to one."""

    outcome: str
    feature_sets: list[str]
    controls: list[str] = field(default_factory=list)
    task: str | None = None  # None: see default_task (two values: classification)
    n_folds: int = 10
    fold_file: Path | None = None
    seed: int = 42
    reduce: str = "none"
    combine: str = "concat"
    transform: str = "none"
    target_transform: str = "none"
    min_words: int | None = None  # None: the study's ``min_words`` setting
    n_boot: int = 2000
    alphas: tuple[float, ...] = ALPHAS
    Cs: tuple[float, ...] = CS
    inner_folds: int = 3
    member_head: str = "auto"  # 'ridge': classification members are ridge fits, see LanguageModel


@dataclass
class TrainingData:
    """The users, targets and design matrix of one training run."""

    users: list[str]  # pseudonymous ids, row order of X
    y: np.ndarray  # regression: float (n,); classification: class index (n,)
    classes: list[str] | None  # classification labels, in index order
    X: sp.csr_matrix  # (n, n_controls + sum of set widths)
    blocks: list[tuple[str, int]]  # (feature set, width) after the control columns
    features: dict[str, list[str]]  # feature names per set, in column order
    controls: list[dict[str, Any]]  # [{'column', 'levels'}]: levels None for numeric
    control_names: list[str]
    words: np.ndarray  # words per user (n,)
    folds: np.ndarray  # fold index per user (n,)
    excluded: dict[str, int]  # reason -> users left out
    task: str


def encode_controls(df: pd.DataFrame, spec: list[dict[str, Any]]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Control columns of ``df`` as numbers: (matrix (n, k), column names, row has all values).

    A numeric control is used as is; a text control becomes one 0/1 column per level but the
    first (levels fixed by ``spec`` so a saved model encodes new data the same way).
    """
    cols, names = [], []
    ok = np.ones(len(df), dtype=bool)
    for c in spec:
        s = df[c["column"]]
        if c["levels"] is None:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            ok &= np.isfinite(v)
            cols.append(np.nan_to_num(v))
            names.append(c["column"])
        else:
            ok &= s.notna().to_numpy()
            for lev in c["levels"][1:]:
                cols.append((s.astype(object) == lev).to_numpy(dtype=float))
                names.append(f"{c['column']}={lev}")
    C = np.column_stack(cols) if cols else np.zeros((len(df), 0))
    return C, names, ok


def control_spec(df: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """How to encode each control column of ``df`` (numeric, or its sorted text levels)."""
    spec = []
    for c in columns:
        s = df[c]
        numeric = pd.api.types.is_numeric_dtype(s)
        spec.append({"column": c, "levels": None if numeric else sorted(map(str, s.dropna().unique()))})
    return spec


def feature_matrix(con: Any, sets: list[str], users: list[str],
                   features: dict[str, list[str]] | None = None) -> tuple[sp.csr_matrix, dict[str, list[str]]]:
    """The feature sets side by side for ``users`` (rows), ``group_norm`` values.

    ``features`` fixes each set's columns (a saved model's); missing features are zero.
    """
    from psyprofile.features.store import read_matrix

    mats, names = [], {}
    for s in sets:
        fm = read_matrix(con, s, level="user", groups=users, column="group_norm",
                         features=None if features is None else features[s])
        mats.append(fm.X)
        names[s] = fm.features
    return sp.hstack(mats, format="csr"), names


def user_words(con: Any) -> dict[str, int]:
    """Words per user, or a clear error when no feature extraction has counted them."""
    from psyprofile.features.store import group_words

    words = group_words(con, "user")
    if not words:
        raise PsyprofileError(
            "this study has no word counts per user yet. Extract features first "
            "(`psyprofile features STUDY ...`), which counts each user's words."
        )
    return words


def default_task(raw: pd.Series) -> str:
    """'classification' for text or a numeric column with exactly two values (0/1, 1/2 ...),
    else 'regression'."""
    numeric = pd.api.types.is_numeric_dtype(raw)
    return "regression" if numeric and raw.dropna().nunique() != 2 else "classification"


def _target(raw: pd.Series, outcome: str, task: str | None) -> tuple[str, pd.Series]:
    numeric = pd.api.types.is_numeric_dtype(raw)
    task = task or default_task(raw)
    if task == "regression" and not numeric:
        example = next((str(v) for v in raw.dropna() if pd.isna(pd.to_numeric(v, errors="coerce"))), "?")
        raise PsyprofileError(
            f"outcome '{outcome}' is not numeric (e.g. '{example}'), so it cannot be a regression "
            "target. Use --task classification, or load a numeric column."
        )
    return task, raw


def load_training_data(ws: Workspace, opts: TrainOptions) -> TrainingData:
    """Users, targets, design matrix and folds for ``opts`` (see the module docstring)."""
    from psyprofile.store.outcomes import level_key, read_outcomes

    min_words = ws.config["min_words"] if opts.min_words is None else opts.min_words
    # Not read-only: reading feature tables may create the (empty) feature catalogue.
    with ws.connect() as con:
        df = read_outcomes(con, list(dict.fromkeys([opts.outcome, *opts.controls])))
        words = user_words(con)
        task, target = _target(df[opts.outcome], opts.outcome, opts.task)
        if task == "regression" and tuple(opts.Cs) != CS:
            raise PsyprofileError(
                f"--Cs sets the penalties of a logistic regression, but '{opts.outcome}' is a "
                "regression target, whose ridge penalty is chosen by cross-validation. Drop --Cs, "
                "or use --task classification."
            )
        excluded: dict[str, int] = {}
        has_y = target.notna().to_numpy()
        if not has_y.any():
            raise PsyprofileError(
                f"outcome '{opts.outcome}' is empty (all values missing) for every user. "
                "Check the outcomes file you loaded."
            )
        excluded["no_outcome"] = int((~has_y).sum())
        df = df[has_y]
        w = np.array([words.get(u, 0) for u in df.index], dtype=np.int64)
        excluded["too_few_words"] = int((w < min_words).sum())
        df, w = df[w >= min_words], w[w >= min_words]
        spec = control_spec(df, opts.controls)
        C, control_names, ok = encode_controls(df, spec)
        excluded["missing_control"] = int((~ok).sum())
        df, w, C = df[ok], w[ok], C[ok]
        y_raw = df[opts.outcome]
        classes = None
        if task == "classification":
            labels = y_raw.map(level_key)
            # numbers in numeric order, so the larger of two values (1 of 0/1) is the positive class
            classes = ([level_key(v) for v in sorted(y_raw.unique())]
                       if pd.api.types.is_numeric_dtype(y_raw) else sorted(labels.unique()))
            if len(classes) < 2 or len(classes) > MAX_CLASSES:
                raise PsyprofileError(
                    f"outcome '{opts.outcome}' has {len(classes)} distinct values; classification needs "
                    f"2 to {MAX_CLASSES}. Use --task regression for a numeric outcome."
                )
            y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
        else:
            y = y_raw.to_numpy(dtype=float)
            if opts.target_transform == "log" and (y <= 0).any():
                raise PsyprofileError(
                    f"--target-transform log needs a positive outcome; '{opts.outcome}' has "
                    f"{int((y <= 0).sum())} values <= 0. Use --target-transform none."
                )
        users = list(df.index)
        if opts.fold_file is not None:
            ff = read_fold_file(opts.fold_file, ws.pseudonymizer("user"))
            folds, found = assign_folds(users, ff)
            excluded["not_in_fold_file"] = int((~found).sum())
            keep = np.flatnonzero(found)
            users = [users[i] for i in keep]
            y, w, C, folds = y[keep], w[keep], C[keep], folds[keep]
            if len(set(folds.tolist())) < 2:
                raise PsyprofileError(
                    f"{opts.fold_file}: fewer than 2 of its folds hold usable users ({len(users)} users "
                    "matched). Check that its user ids are the ones of the loaded posts."
                )
        else:
            folds = make_folds(y, opts.n_folds, opts.seed, task)
        X, features = feature_matrix(con, opts.feature_sets, users)
    X = sp.hstack([sp.csr_matrix(C), X], format="csr")
    blocks = [(s, len(features[s])) for s in opts.feature_sets]
    return TrainingData(users, y, classes, X, blocks, features, spec, control_names, w, folds, excluded, task)


def build_model(data: TrainingData, opts: TrainOptions, sets: list[str] | None = None,
                with_controls: bool = True) -> tuple[LanguageModel, np.ndarray]:
    """The estimator for ``sets`` (default all) and the column indices of ``data.X`` it reads."""
    n_ctl = len(data.control_names) if with_controls else 0
    cols = list(range(n_ctl))
    start = len(data.control_names)
    blocks = []
    for name, width in data.blocks:
        if sets is None or name in sets:
            cols += range(start, start + width)
            blocks.append((name, width))
        start += width
    model = LanguageModel.for_task(
        data.task, blocks=tuple(blocks), n_controls=n_ctl, combine=opts.combine,
        sqrt=opts.transform, reduce=opts.reduce, target_transform=opts.target_transform,
        alphas=tuple(opts.alphas), Cs=tuple(opts.Cs), inner_folds=opts.inner_folds,
        random_state=opts.seed, member_head=opts.member_head)
    return model, np.asarray(cols, dtype=np.int64)


def cross_validate(model: Any, X: Any, y: np.ndarray, folds: np.ndarray, task: str,
                   progress: bool = True, desc: str = "cross-validation",
                   recipes: list[str] | None = None) -> np.ndarray:
    """Out-of-fold predictions: each fold predicted by a clone fit on the other folds.

    Returns shape (n,) for regression, (n, n_classes) probabilities for classification.
    ``recipes``, if given, receives the recipe each fold's model chose ('plain'/'stack').
    """
    from sklearn.base import clone
    from tqdm.auto import tqdm

    k = len(np.unique(y)) if task == "classification" else 0
    out = np.zeros((len(y), k)) if k else np.zeros(len(y))
    for f in tqdm(np.unique(folds), desc=desc, disable=not progress, leave=False):
        test = folds == f
        m = clone(model).fit(X[~test], y[~test])
        out[test] = m.predict_proba(X[test]) if k else m.predict(X[test])
        if recipes is not None and hasattr(m, "_recipe"):
            recipes.append(m._recipe())
    return out


def _clean(v: Any) -> Any:
    """NaN to None so the report is valid JSON."""
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def score(task: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray | None, n_boot: int,
          seed: int) -> dict[str, Any]:
    """Metrics with CIs overall and (given ``folds``) per fold under ``'per_fold'``."""
    out = metrics.summarize(task, y, pred, n_boot, seed)
    if folds is not None:
        out["per_fold"] = [
            {"fold": int(f), **metrics.summarize(task, y[folds == f], pred[folds == f], n_boot, seed)}
            for f in np.unique(folds)
        ]
    return _clean(out)


def controls_baseline(data: TrainingData, opts: TrainOptions, progress: bool) -> dict[str, Any] | None:
    """CV accuracy of the controls alone (unpenalised linear model), or None without controls."""
    if not data.control_names:
        return None
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = LinearRegression() if data.task == "regression" else LogisticRegression(C=1e6, max_iter=5000)
    C = data.X[:, :len(data.control_names)].toarray()
    pred = cross_validate(make_pipeline(StandardScaler(), head), C, data.y, data.folds, data.task,
                          progress, "controls only")
    return score(data.task, data.y, pred, None, opts.n_boot, opts.seed)


def audit(ws: Workspace, data: TrainingData, pred: np.ndarray, columns: list[str],
          n_boot: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Metrics with CIs per subgroup of each column (numeric columns in quartile bands)."""
    from psyprofile.store.outcomes import read_outcomes

    with ws.connect(read_only=True) as con:
        df = read_outcomes(con, columns).reindex(data.users)
    out: dict[str, list[dict[str, Any]]] = {}
    for c in columns:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and s.nunique() > 8:
            codes, edges = pd.qcut(s, 4, labels=False, retbins=True, duplicates="drop")
            names = [f"{lo:.4g} to {hi:.4g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
            s = codes.map(dict(enumerate(names)))
        groups = s.astype(object).where(s.notna(), "(missing)").astype(str).to_numpy()
        rows = []
        for g in sorted(set(groups)):
            m = groups == g
            rows.append({"group": g, **_clean(metrics.summarize(data.task, data.y[m], pred[m], n_boot, seed))})
        out[c] = rows
    return out


@dataclass
class TrainResult:
    """What :func:`train` measured, and the final model when asked for."""

    options: TrainOptions
    data: TrainingData
    oof: np.ndarray  # out-of-fold predictions (n,) or probabilities (n, k)
    cv: dict[str, Any]
    baseline: dict[str, Any] | None
    compare: list[dict[str, Any]] | None
    audit: dict[str, list[dict[str, Any]]] | None
    model: LanguageModel | None
    trained_at: str

    def report(self) -> dict[str, Any]:
        """One JSON-ready dict; metric keys at the top level (``n_users``, ``r``, ``r_ci`` ...)."""
        d = self.data
        return {
            **{k: v for k, v in self.cv.items() if k != "per_fold"},
            "outcome": self.options.outcome, "task": d.task, "feature_sets": [b for b, _ in d.blocks],
            "n_features": {b: w for b, w in d.blocks}, "controls": d.control_names,
            "classes": d.classes, "n_folds": int(len(np.unique(d.folds))), "excluded": d.excluded,
            "per_fold": self.cv.get("per_fold"), "controls_only": self.baseline,
            "compare": self.compare, "audit": self.audit,
            "pipeline": pipeline_description(self.options),
        }


def pipeline_description(opts: TrainOptions) -> dict[str, Any]:
    return {
        "combine": opts.combine,
        "recipe_rule": RECIPE_RULES[opts.combine],
        "transform": opts.transform, "reduce": opts.reduce,
        "target_transform": opts.target_transform, "standardise": "per feature set, inside each training fold",
        "estimator": f"RidgeCV(alphas={list(opts.alphas)})" if opts.task != "classification"
        else (f"RidgeCV(alphas={list(opts.alphas)}) of the class indicators per member, combined "
              "by a logistic regression" if opts.member_head == "ridge"
              else f"L2 LogisticRegression(C in {list(opts.Cs)} by inner CV)" if opts.combine == "concat"
              else f"plain: L2 LogisticRegression(C in {list(opts.Cs)} by inner CV); stack: "
                   f"RidgeCV(alphas={list(opts.alphas)}) of the class indicators per member, "
                   "combined by a logistic regression"),
        "inner_folds": opts.inner_folds,
        "seed": opts.seed,
    }


def train(ws: Workspace, opts: TrainOptions, compare: bool = False, audit_by: list[str] | None = None,
          fit_final: bool = False, progress: bool = True) -> TrainResult:
    """Cross-validate ``opts`` on the study; optionally compare feature sets, audit subgroups,
    and fit the final model on all users (for :func:`psyprofile.models.persist.save_model`)."""
    from threadpoolctl import threadpool_limits

    # Many small solver calls: multi-threaded BLAS spends more time syncing threads than
    # computing (measured 6x slower per logistic fit on a busy 2-core machine).
    with threadpool_limits(1, user_api="blas"):
        return _train(ws, opts, compare, audit_by, fit_final, progress)


def _train(ws: Workspace, opts: TrainOptions, compare: bool, audit_by: list[str] | None,
           fit_final: bool, progress: bool) -> TrainResult:
    data = load_training_data(ws, opts)
    opts.task = data.task
    model, cols = build_model(data, opts)
    X = data.X[:, cols]
    recipes: list[str] = []
    oof = cross_validate(model, X, data.y, data.folds, data.task, progress, recipes=recipes)
    cv = score(data.task, data.y, oof, data.folds, opts.n_boot, opts.seed)
    cv["recipe_per_fold"] = {r: recipes.count(r) for r in sorted(set(recipes))}
    table = None
    if compare:
        table = []
        variants = [[s] for s, _ in data.blocks] + ([None] if len(data.blocks) > 1 else [])
        for sets in variants:
            m, c = build_model(data, opts, sets)
            p = cross_validate(m, data.X[:, c], data.y, data.folds, data.task, progress, f"{sets or 'all'}")
            table.append({"feature_sets": sets or [b for b, _ in data.blocks],
                          **score(data.task, data.y, p, None, opts.n_boot, opts.seed)})
    final = model.fit(X, data.y) if fit_final else None
    if final is not None:
        cv["recipe"] = final._recipe()
    return TrainResult(
        opts, data, oof, cv, controls_baseline(data, opts, progress), table,
        audit(ws, data, oof, audit_by, opts.n_boot, opts.seed) if audit_by else None, final,
        dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )
