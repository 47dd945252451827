"""Differential language analysis (DLA): which features go with an outcome, and how strongly.

For every feature x outcome pair the effect is the standardised coefficient of the feature
in a regression of the outcome on the feature plus the controls:

* continuous outcome: OLS of z(outcome) on z(feature) and z(controls). Without controls the
  coefficient is Pearson's r. Computed for all features at once with Frisch-Waugh-Lovell:
  the outcome and every feature are residualised on [1, controls] once, the coefficient is
  the slope between residuals, and its t test has ``n - 2 - n_controls`` degrees of freedom,
  exactly as the full OLS fit. Its 95% CI is Fisher's z interval of the (partial) correlation
  (with ``n - 3 - n_controls``), carried to the coefficient's scale: without controls it is
  the interval of r, always within [-1, 1].
* binary outcome (exactly two distinct values, the larger/later one coded 1): logistic
  regression of the outcome on z(feature) and z(controls); ``coef`` is the log-odds change
  per SD of the feature. Fitted for all features at once by batched Newton-Raphson (every
  model has only ``2 + n_controls`` parameters), with Wald CIs and p-values as statsmodels
  ``Logit`` reports them. Features with no finite estimate get NaN and are counted, never
  crash the run: those that separate the classes on their own (every user above some value
  in one class, e.g. a word used only by a few users all coded 1; checked exactly) and those
  whose fit diverges (coefficient beyond 15 log-odds per SD, or no convergence). Every
  feature also gets ``r``, the point-biserial (partial) correlation, which is bounded and
  defined under separation too; binary results are ordered by it, so a rare word that nearly
  separates the classes (odds ratio in the thousands) does not head the list. The levels'
  value labels (``psyprofile train --labels``, table ``outcome_labels``) name the directions.

Topic features get a ``label``, their three highest-weighted words (``dinner, cook, eat``).

z() is the z-score with the population SD (ddof=0) over the users analysed for that outcome.
P-values are corrected per outcome over all features tested for it, across all feature sets
of the run (DLATK's ``--correlate`` corrects per outcome over the features of its one feature
table). Results are stored in ``dla_results`` (one ``run_id`` per call, parameters in
``dla_runs``); a rerun of the same outcome, feature sets and level replaces the earlier rows.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special, stats

from psyprofile.errors import PsyprofileError
from psyprofile.features.store import group_words, read_matrix, require_feature_set
from psyprofile.store.db import quote_ident, scalar
from psyprofile.store.outcomes import level_key, read_outcomes, value_labels
from psyprofile.store.workspace import Workspace

RESULT_COLUMNS = ["outcome", "feature", "feature_set", "coef", "ci_lo", "ci_hi", "p",
                  "p_corrected", "n"]
FDR_METHODS = {"bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}
# Features are densified and fitted in blocks of about this many cells (1 MB of float64), at
# least _MIN_BLOCK columns: the many temporaries of a block then stay in the CPU cache and are
# recycled by the allocator (measured at 978 users x 6,752 features: logistic fits take 2.3 s
# of CPU in one block, 0.9 s in blocks of 128 columns).
_BLOCK_CELLS = 125_000
_MIN_BLOCK = 64
# A log-odds coefficient beyond this per SD of a feature means the fit is running off to
# infinity (separation by the feature together with the controls), not estimating an effect.
_MAX_LOGIT_COEF = 15.0
_NEWTON_MAX_ITER = 60
_NEWTON_TOL = 1e-10

@dataclass
class Effects:
    """Per-feature estimates, each an array of shape (n_features,)."""

    coef: np.ndarray
    ci_lo: np.ndarray
    ci_hi: np.ndarray
    p: np.ndarray


def zscore(a: np.ndarray) -> np.ndarray:
    """Columns of ``a`` (n, k) or a vector (n,) centred and divided by their population SD."""
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def ols_effects(X: np.ndarray, y: np.ndarray, C: np.ndarray | None = None,
                level: float = 0.95) -> Effects:
    """Standardised OLS coefficient of each column of ``X`` (n, F) for outcome ``y`` (n,),
    adjusting for controls ``C`` (n, k) or none; t-based CI at ``level`` and two-sided p.

    Columns of ``X`` must vary (the caller drops constant ones).
    """
    n = len(y)
    k = 0 if C is None else C.shape[1]
    Z = np.ones((n, 1)) if C is None else np.column_stack([np.ones(n), zscore(C)])
    Q, _ = np.linalg.qr(Z)
    ys = zscore(y)
    ry = ys - Q @ (Q.T @ ys)
    Xs = zscore(X)
    RX = Xs - Q @ (Q.T @ Xs)
    sxx = np.einsum("ij,ij->j", RX, RX)
    sxy = RX.T @ ry
    coef = sxy / sxx
    df = n - 2 - k
    syy = ry @ ry
    sse = np.maximum(syy - coef * sxy, 0.0)
    se = np.sqrt(sse / df / sxx)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / se
    p = 2 * stats.t.sf(np.abs(t), df)
    # Fisher's z interval of the (partial) correlation, carried to the coefficient's scale:
    # coef = r_partial * sqrt(syy / sxx), and without controls coef is r itself, so its
    # interval always lies in [-1, 1] (a t interval of r can pass 1).
    scale = np.sqrt(syy / sxx)
    r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    lo, hi = fisher_ci(r, n - k, level)
    return Effects(coef, lo * scale, hi * scale, p)


def fisher_ci(r: np.ndarray, n: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Fisher z interval ``tanh(atanh r -/+ z / sqrt(n - 3))`` of correlations ``r`` from ``n``
    pairs (``n`` minus the number of controls for a partial correlation); within [-1, 1]."""
    half = stats.norm.ppf(0.5 + level / 2) / np.sqrt(max(n - 3, 1))
    with np.errstate(divide="ignore"):
        z = np.arctanh(r)
    return np.tanh(z - half), np.tanh(z + half)


def logit_effects(X: np.ndarray, y: np.ndarray, C: np.ndarray | None = None,
                  level: float = 0.95) -> tuple[Effects, np.ndarray]:
    """Log-odds coefficient of each standardised column of ``X`` (n, F) in a logistic model
    of ``y`` (n,) in {0, 1} with intercept and standardised controls ``C`` (n, k).

    Returns the Wald estimates (NaN where no finite estimate exists) and a boolean mask (F,)
    of those features: separated by the feature alone (every user above some value in one
    class, quasi-complete separation included), or whose fit diverges. All F models are
    fitted together by Newton-Raphson.
    """
    n, F = X.shape
    one = y == 1
    lo1, hi1 = X[one].min(axis=0), X[one].max(axis=0)
    lo0, hi0 = X[~one].min(axis=0), X[~one].max(axis=0)
    separated = (hi0 <= lo1) | (hi1 <= lo0)
    Xs = zscore(X)
    Cs = np.zeros((n, 0)) if C is None else zscore(C)
    k = Cs.shape[1]
    p_dim = 2 + k
    beta = np.zeros((F, p_dim))
    ybar = y.mean()
    beta[:, 0] = np.log(ybar / (1 - ybar))
    active = ~separated
    failed = separated.copy()
    for _ in range(_NEWTON_MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        grad, hess = _logit_grad_hess(Xs[:, idx], Cs, y, beta[idx])
        step = _solve(hess, grad)
        beta[idx] += step
        bad = ~np.isfinite(step).all(axis=1) | (np.abs(beta[idx, 1]) > _MAX_LOGIT_COEF)
        done = np.abs(step).max(axis=1) < _NEWTON_TOL
        failed[idx[bad]] = True
        active[idx[bad | done]] = False
    failed |= active  # still moving after the last iteration: no finite maximum
    _, hess = _logit_grad_hess(Xs, Cs, y, beta)
    ok = ~failed
    se = np.full(F, np.nan)
    if ok.any():
        cov = np.linalg.pinv(hess[ok], hermitian=True)
        se[ok] = np.sqrt(cov[:, 1, 1])
    coef = np.where(ok, beta[:, 1], np.nan)
    p = 2 * stats.norm.sf(np.abs(coef / se))
    half = stats.norm.ppf(0.5 + level / 2) * se
    return Effects(coef, coef - half, coef + half, p), failed


def _logit_grad_hess(Xs: np.ndarray, Cs: np.ndarray, y: np.ndarray,
                     beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score (F, p) and information matrix (F, p, p) of F logistic models with design
    [1, x_f, C] at ``beta`` (F, p)."""
    eta = beta[:, 0] + Xs * beta[:, 1]  # (n, F)
    if Cs.shape[1]:
        eta += Cs @ beta[:, 2:].T
    mu = special.expit(eta)
    w = mu * (1.0 - mu)
    r = y[:, None] - mu
    F, k = Xs.shape[1], Cs.shape[1]
    grad = np.empty((F, 2 + k))
    grad[:, 0] = r.sum(axis=0)
    grad[:, 1] = np.einsum("nf,nf->f", Xs, r)
    grad[:, 2:] = r.T @ Cs
    wx = w * Xs
    hess = np.empty((F, 2 + k, 2 + k))
    hess[:, 0, 0] = w.sum(axis=0)
    hess[:, 0, 1] = hess[:, 1, 0] = wx.sum(axis=0)
    hess[:, 1, 1] = np.einsum("nf,nf->f", wx, Xs)
    if k:
        hess[:, 0, 2:] = hess[:, 2:, 0] = w.T @ Cs
        hess[:, 1, 2:] = hess[:, 2:, 1] = wx.T @ Cs
        hess[:, 2:, 2:] = np.einsum("nf,nk,nl->fkl", w, Cs, Cs)
    return grad, hess


def _solve(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Newton steps H^-1 g for a stack of systems; pseudo-inverse where H is singular."""
    try:
        return np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.einsum("fij,fj->fi", np.linalg.pinv(hess, hermitian=True), grad)


def correct_p(p: np.ndarray, method: str) -> np.ndarray:
    """``p`` corrected for multiple tests ('bh', 'bonferroni' or 'none'); NaN stays NaN but
    counts as a test with p = 1 (a failed fit was still a comparison made)."""
    from statsmodels.stats.multitest import multipletests

    if method not in FDR_METHODS:
        raise PsyprofileError(
            f"unknown correction '{method}'; use one of {', '.join(FDR_METHODS)}.")
    if FDR_METHODS[method] is None or len(p) == 0:
        return p.copy()
    filled = np.where(np.isnan(p), 1.0, p)
    out = multipletests(filled, method=FDR_METHODS[method])[1]
    return np.where(np.isnan(p), np.nan, out)


def run_dla(
    ws: Workspace,
    outcomes: list[str],
    feature_sets: list[str],
    level: str = "user",
    controls: Sequence[str] = (),
    min_users_pct: float | None = None,
    min_words: int | None = None,
    fdr: str = "bh",
    alpha: float = 0.05,
    progress: bool = True,
) -> pd.DataFrame:
    """Differential language analysis of ``outcomes`` over ``feature_sets`` at ``level``.

    Groups with fewer than ``min_words`` tokens (default ``ws.config['min_words']``) are left
    out; ``min_users_pct`` (a fraction; >= 1 means a number of users) keeps only features
    non-zero for at least round(P x users) of the remaining groups, as DLATK's occurrence
    filter. Returns one row per feature x outcome with :data:`RESULT_COLUMNS` (plus
    ``odds_ratio`` and ``r`` when an outcome is binary) and ``label``, sorted by outcome
    then descending ``coef`` (binary outcomes: descending ``r``);
    ``df.attrs['summary']`` says who and what was excluded and why, ``df.attrs['run_id']``
    the stored run, and ``summary['seconds']`` the time of each step (load, correlate,
    store, total).
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    if not outcomes or not feature_sets:
        raise PsyprofileError("DLA needs at least one outcome and one feature set.")
    correct_p(np.array([]), fdr)  # validate the method before any work
    controls = list(controls)
    min_words = int(ws.config["min_words"] if min_words is None else min_words)
    with ws.connect() as con:
        words = group_words(con, level)
        if not words and min_words > 0:
            raise PsyprofileError(
                f"no word counts for level '{level}', so the {min_words}-word minimum cannot be "
                "applied. Extract ngram features first (`psyprofile features STUDY`) or pass "
                "--min-words 0."
            )
        if words:
            pool = sorted(g for g, w in words.items() if w >= min_words)
        else:
            pool = _groups_with_features(con, feature_sets, level)
        if not pool:
            raise PsyprofileError(f"no {level} has at least {min_words} words; lower --min-words.")
        mats = {name: read_matrix(con, name, level=level, groups=pool) for name in feature_sets}
        table = read_outcomes(con, list(dict.fromkeys([*outcomes, *controls])))
        labels = {o: value_labels(con, o) for o in outcomes}
    table = table.reindex(pool)
    blocks, names, sets, occ_removed = _feature_columns(mats, pool, min_users_pct)
    summary: dict[str, Any] = {
        "level": level, "min_words": min_words, "groups_with_text": len(words) or len(pool),
        "excluded_min_words": len(words) - len(pool) if words else 0, "groups_eligible": len(pool),
        "min_users_pct": min_users_pct, "occurrence_filtered": occ_removed,
        "features": {s: int(b.shape[1]) for s, b in zip(feature_sets, blocks, strict=True)},
        "controls": controls, "fdr": fdr, "alpha": alpha, "outcomes": {},
    }
    Xall = sp.hstack(blocks, format="csc")
    t1 = time.perf_counter()
    frames = []
    for outcome in tqdm(outcomes, desc="DLA", unit="outcome", disable=not progress):
        frame, info = _one_outcome(outcome, table, controls, Xall, names, sets, fdr,
                                   labels[outcome])
        info["significant"] = int((frame["p_corrected"] < alpha).sum())
        summary["outcomes"][outcome] = info
        frames.append(frame)
    result = pd.concat(frames, ignore_index=True)
    if "odds_ratio" not in result:
        result = result[RESULT_COLUMNS]
    result["label"] = _labels(ws, result, level)
    t2 = time.perf_counter()
    run_id = _store(ws, result, outcomes, feature_sets, level, summary)
    # wall-clock seconds of each step; kept out of the stored summary (timings are not results)
    summary["seconds"] = {"load": t1 - t0, "correlate": t2 - t1,
                          "store": time.perf_counter() - t2, "total": time.perf_counter() - t0}
    result.attrs["summary"] = summary
    result.attrs["run_id"] = run_id
    return result


def _labels(ws: Workspace, result: pd.DataFrame, level: str) -> pd.Series:
    """A readable name per feature: a topic's top words ('dinner, cook, eat'), else None."""
    from psyprofile.features.topic_words import topic_labels

    names = topic_labels(ws, sorted(result["feature_set"].unique()), level)
    return pd.Series([names.get(s, {}).get(f) for s, f in zip(result["feature_set"], result["feature"],
                                                              strict=True)],
                     index=result.index, dtype=object)


def _groups_with_features(con: Any, feature_sets: list[str], level: str) -> list[str]:
    """Every group with a row in any of ``feature_sets`` (sorted), when no word counts exist."""
    union = " UNION ".join(
        f"SELECT group_id FROM {quote_ident(require_feature_set(con, s, level))}" for s in feature_sets)
    return sorted(r[0] for r in con.execute(union).fetchall())


def _feature_columns(mats: dict, pool: list[str], min_users_pct: float | None
                     ) -> tuple[list[sp.csc_matrix], np.ndarray, np.ndarray, dict[str, int]]:
    """Each set's matrix (rows = ``pool``) as CSC after the occurrence filter, its feature
    names and set labels, and how many features the filter removed per set."""
    blocks, names, sets, removed = [], [], [], {}
    for name, m in mats.items():
        X = sp.csc_matrix(m.X)
        feats = np.array(m.features, dtype=object)
        if min_users_pct is not None:
            need = min_users_pct if min_users_pct >= 1 else int(round(min_users_pct * len(pool)))
            X.eliminate_zeros()
            keep = np.diff(X.indptr) >= need
            removed[name] = int((~keep).sum())
            X, feats = X[:, keep], feats[keep]
        blocks.append(X)
        names.append(feats)
        sets.append(np.full(len(feats), name, dtype=object))
    return blocks, np.concatenate(names), np.concatenate(sets), removed


def _binary_codes(s: pd.Series) -> tuple[np.ndarray, list] | None:
    """0/1 codes of a series with exactly two distinct values (larger one = 1), else None."""
    levels = sorted(s.dropna().unique().tolist())
    if len(levels) != 2:
        return None
    return (s == levels[1]).to_numpy(dtype=float), levels


def _numeric(table: pd.DataFrame, name: str, role: str) -> np.ndarray:
    """Column ``name`` as floats: numbers as they are, a two-valued text column as 0/1."""
    s = table[name]
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float)
    codes = _binary_codes(s)
    if codes is None:
        raise PsyprofileError(
            f"{role} '{name}' is text with {s.nunique()} distinct values; DLA needs a number or "
            "a two-valued column. Recode it (e.g. one 0/1 column per category) and load it "
            "again with `psyprofile outcomes`."
        )
    out = codes[0]
    out[s.isna().to_numpy()] = np.nan
    return out


def _one_outcome(outcome: str, table: pd.DataFrame, controls: list[str], Xall: sp.csc_matrix,
                 names: np.ndarray, sets: np.ndarray, fdr: str, labels: dict[str, str]
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    # `--outcome age --outcome gender --controls gender,age` adjusts each for the other
    controls = [c for c in controls if c != outcome]
    codes = _binary_codes(table[outcome])
    binary = codes is not None
    info: dict[str, Any] = {"kind": "binary" if binary else "continuous", "controls": controls}
    if binary:
        y = np.where(table[outcome].isna(), np.nan, codes[0])
        info["coded_0"], info["coded_1"] = codes[1]
        info["label_0"], info["label_1"] = (labels.get(level_key(v), str(level_key(v))) for v in codes[1])
    else:
        y = _numeric(table, outcome, "outcome")
    has_y = ~np.isnan(y)
    C = np.column_stack([_numeric(table, c, "control") for c in controls]) if controls else None
    has_c = np.ones(len(y), bool) if C is None else ~np.isnan(C).any(axis=1)
    info["excluded_missing_outcome"] = int((~has_y).sum())
    info["excluded_missing_control"] = int((has_y & ~has_c).sum())
    rows = np.flatnonzero(has_y & has_c)
    n = len(rows)
    info["n"] = n
    X = Xall[rows]
    Cn = None if C is None else C[rows]
    if Cn is not None and (Cn.std(axis=0) == 0).any():
        const = [c for c, s in zip(controls, Cn.std(axis=0), strict=True) if s == 0]
        raise PsyprofileError(f"control {', '.join(const)} is constant over the {n} users "
                              f"analysed for '{outcome}'; drop it from --controls.")
    k = 0 if Cn is None else Cn.shape[1]
    if n < 4 + k or (binary and len(np.unique(y[rows])) < 2) or np.nanstd(y[rows]) == 0:
        raise PsyprofileError(
            f"outcome '{outcome}': only {n} users with a value (and the controls), or no "
            "variation among them; DLA needs more users with varied values."
        )
    var = _column_variance(X)
    varies = var > 0
    info["constant_features"] = int((~varies).sum())
    cols = np.flatnonzero(varies)
    yv = y[rows]
    block = max(_MIN_BLOCK, _BLOCK_CELLS // n)
    empty = np.array([], dtype=float)
    parts, separated = [Effects(empty, empty, empty, empty)], 0
    bounded = [empty]
    for start in range(0, len(cols), block):
        dense = X[:, cols[start:start + block]].toarray()
        if binary:
            eff, failed = logit_effects(dense, yv, Cn)
            separated += int(failed.sum())
            # the point-biserial (partial) correlation: bounded, defined under separation too
            bounded.append(ols_effects(dense, yv, Cn).coef)
        else:
            eff = ols_effects(dense, yv, Cn)
        parts.append(eff)
    if binary:
        info["separation_features"] = separated
    frame = pd.DataFrame({"outcome": outcome, "feature": names[cols], "feature_set": sets[cols]})
    for attr in ("coef", "ci_lo", "ci_hi", "p"):
        frame[attr] = np.concatenate([getattr(e, attr) for e in parts])
    frame["p_corrected"] = correct_p(frame["p"].to_numpy(), fdr)
    frame["n"] = n
    order = "coef"
    if binary:
        frame["odds_ratio"] = np.exp(frame["coef"])
        frame["r"] = np.concatenate(bounded)
        # ordered by the bounded effect: a nearly separating rare word has a huge odds ratio
        # but a small correlation, and must not head the list
        order = "r"
    info["tested"] = len(frame)
    frame = frame.sort_values(order, ascending=False, na_position="last", kind="stable")
    return frame.reset_index(drop=True), info


def _column_variance(X: sp.csc_matrix) -> np.ndarray:
    """Population variance of each column of sparse ``X`` without densifying it."""
    n = X.shape[0]
    mean = np.asarray(X.sum(axis=0)).ravel() / n
    sq = np.asarray(X.multiply(X).sum(axis=0)).ravel() / n
    var = sq - mean**2
    # Cancellation leaves tiny non-zero values for truly constant columns.
    return np.where(var > 1e-14 * np.maximum(sq, 1e-300), var, 0.0)


def _store(ws: Workspace, result: pd.DataFrame, outcomes: list[str], feature_sets: list[str],
           level: str, summary: dict[str, Any]) -> int:
    """Write the run to ``dla_runs``/``dla_results``, replacing the same outcome x sets x level."""
    key = ",".join(sorted(feature_sets))
    rows = result.assign(odds_ratio=result.get("odds_ratio", np.nan), r=result.get("r", np.nan))
    with ws.connect() as con:
        run_id = int(scalar(con, "SELECT coalesce(max(run_id), 0) + 1 FROM dla_runs"))
        con.execute("BEGIN")
        con.execute(
            "DELETE FROM dla_results WHERE level = ? AND feature_sets = ? AND outcome IN "
            "(SELECT unnest(?::VARCHAR[]))", [level, key, outcomes])
        con.execute(
            "INSERT INTO dla_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), outcomes, key, level,
             json.dumps({k: summary[k] for k in ("min_words", "min_users_pct", "controls",
                                                 "fdr", "alpha")}),
             json.dumps(summary, default=str)])
        con.register("_dla_in", rows)
        try:
            con.execute(
                "INSERT INTO dla_results BY NAME SELECT ? AS run_id, ? AS level, ? AS feature_sets, "
                "outcome, feature, feature_set, coef, ci_lo, ci_hi, p, p_corrected, n, odds_ratio, "
                "r, label FROM _dla_in", [run_id, level, key])
        finally:
            con.unregister("_dla_in")
        con.execute("COMMIT")
    return run_id


def export_results(result: pd.DataFrame, path: Any) -> None:
    """Write DLA results to ``path`` (.csv or .parquet)."""
    from pathlib import Path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise PsyprofileError(
            f"{path}: cannot export DLA results as '{suffix}'; use .csv or .parquet.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        result.to_csv(path, index=False)
    else:
        result.to_parquet(path, index=False)
    from psyprofile.store import codebook as cb

    cb.write_codebook(path, cb.codebook_frame(list(result.columns), cb.frame_types(result),
                                              RESULT_CODEBOOK))


_COEF = ("standardised coefficient: Pearson r (partial r with controls) for a continuous "
         "outcome; log-odds change per SD of the feature for a two-valued outcome")
#: the codebook of :func:`export_results` (see :mod:`psyprofile.store.codebook`)
RESULT_CODEBOOK = {
    "outcome": {"source": "psyprofile outcomes", "description": "the outcome analysed"},
    "feature": {"source": "the feature set", "description": "word, n-gram, lexicon category "
                                                            "or topic"},
    "feature_set": {"source": "psyprofile features", "description": "the feature set"},
    "coef": {"unit": "r, or log-odds per SD", "source": "psyprofile dla",
             "description": _COEF + "; positive: higher outcome (or level 1) with more use"},
    "ci_lo": {"unit": "as coef", "source": "psyprofile dla",
              "description": "lower end of coef's 95% CI (Fisher z; Wald for two values)"},
    "ci_hi": {"unit": "as coef", "source": "psyprofile dla",
              "description": "upper end of coef's 95% CI (Fisher z; Wald for two values)"},
    "p": {"unit": "probability", "source": "psyprofile dla", "description": "uncorrected p"},
    "p_corrected": {"unit": "probability", "source": "psyprofile dla",
                    "description": "p corrected per outcome over every feature tested "
                                   "(--fdr: Benjamini-Hochberg, Bonferroni or none)"},
    "n": {"unit": "groups", "source": "psyprofile dla", "description": "groups analysed"},
    "odds_ratio": {"unit": "odds ratio per SD", "source": "psyprofile dla",
                   "description": "exp(coef), two-valued outcomes only"},
    "r": {"unit": "correlation, -1..1", "source": "psyprofile dla",
          "description": "point-biserial (partial) correlation, two-valued outcomes only: "
                         "bounded, the ranking of their features"},
    "label": {"source": "the topic set", "description": "a topic's three highest-weighted "
                                                        "words"},
}


def read_dla_runs(con: Any) -> list[dict[str, Any]]:
    """Every stored DLA run by run id: ``run_id, created_at, outcomes, feature_sets, level``
    and its ``params`` and ``summary`` (parsed JSON)."""
    cols = ["run_id", "created_at", "outcomes", "feature_sets", "level", "params", "summary"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM dla_runs ORDER BY run_id").fetchall()
    return [{**dict(zip(cols, r, strict=True)), "params": json.loads(r[5] or "{}"),
             "summary": json.loads(r[6] or "{}")} for r in rows]


def read_dla_results(con: Any) -> pd.DataFrame:
    """The stored effects, one row per run x outcome x feature (the columns of
    ``dla_results``); a later run of the same outcome, sets and level replaced the earlier."""
    return con.execute("SELECT * FROM dla_results ORDER BY run_id, outcome, feature_set, "
                       "feature").df()
