"""Apply a saved model to a study's users, with a reliability estimate per score.

How far a user's score can be trusted depends mostly on how much text it rests on. The
model keeps a fit of the cross-validation error against word count,
``E|residual| = a + b / sqrt(words)``; for a normal error ``sigma = E|residual| * sqrt(pi/2)``,
so each score is stored with ``lo, hi = value -/+ 1.96 sigma(words)`` (probabilities
clipped to [0, 1]). Scores go to the table
``predictions(user_id, model, outcome, value, lo, hi, words, model_hash, fit)``.

A model is known by its name *and* ``model_hash`` (its content digest,
:attr:`~psyprofile.models.persist.SavedModel.digest`), so a different model saved under the
same name never replaces another's rows. Users the model was trained on (in this study) get the
out-of-fold prediction its cross-validation made for them, ``fit = 'out_of_fold'``: an
in-sample fit would be close to their true value and overstate accuracy. Everyone else
gets ``fit = 'applied'``. ``train --save`` stores those out-of-fold values in ``model_oof``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from psyprofile.engine import Engine
from psyprofile.errors import PsyprofileError
from psyprofile.models.persist import SavedModel
from psyprofile.store.db import quote_ident
from psyprofile.store.workspace import Workspace

MISSING_WARN = 0.2  # warn when this share of a set's model features is absent from the study
PARTITION_USERS = 20_000  # users scored per task on an engine
OUT_OF_FOLD, APPLIED = "out_of_fold", "applied"
_COLUMNS = ["user_id", "model", "outcome", "value", "lo", "hi", "words", "model_hash", "fit"]


def abs_residuals(task: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """|error| per user: outcome units for regression, 1 - P(true class) for classification."""
    if task == "regression":
        return np.abs(y - pred)
    return 1.0 - pred[np.arange(len(y)), y]


def fit_reliability(abs_resid: np.ndarray, words: np.ndarray) -> dict[str, float]:
    """Least-squares ``a, b`` of ``|residual| ~ a + b / sqrt(words)`` (b >= 0 enforced)."""
    from scipy.optimize import nnls

    A = np.column_stack([np.ones(len(words)), 1.0 / np.sqrt(np.maximum(words, 1))])
    # Non-negative: error must not grow with more text, and must not go below zero.
    (a, b), _ = nnls(A, abs_resid)
    return {"a": float(a), "b": float(b)}


def sigma(rel: dict[str, float], words: np.ndarray) -> np.ndarray:
    """Error standard deviation expected for users with ``words`` words, shape like ``words``."""
    return np.sqrt(np.pi / 2) * (rel["a"] + rel["b"] / np.sqrt(np.maximum(words, 1)))


@dataclass
class PredictReport:
    model: str
    outcome: str
    scored: int
    too_few_words: int
    missing_control: int
    missing_features: dict[str, float]  # set -> share of the model's features not in the study
    out_of_fold: int = 0  # scored users the model was trained on: their cross-fitted values
    model_hash: str = ""

    def summary(self) -> str:
        miss = ", ".join(f"{s} {v:.0%}" for s, v in self.missing_features.items())
        oof = (f"; {self.out_of_fold:,} of them were training users and get their out-of-fold "
               "value from cross-validation (fit = out_of_fold), never an in-sample fit"
               if self.out_of_fold else "")
        return (f"model {self.model} ({self.outcome}): scored {self.scored:,} users{oof}; skipped "
                f"{self.too_few_words:,} with too few words and {self.missing_control:,} without "
                f"control values; model features missing from this study: {miss}")


def _missing_share(con: Any, sets: dict[str, list[str]]) -> dict[str, float]:
    from psyprofile.features.store import table_name

    out = {}
    for s, feats in sets.items():
        con.register("_model_feats", pd.DataFrame({"feature": feats}))
        try:
            present = con.execute(
                "SELECT count(*) FROM _model_feats m WHERE EXISTS "
                f"(SELECT 1 FROM {quote_ident(table_name(s, 'user'))} t WHERE t.feature = m.feature)"
            ).fetchall()[0][0]
        finally:
            con.unregister("_model_feats")
        out[s] = 1.0 - present / max(len(feats), 1)
    return out


def predict(ws: Workspace, saved: SavedModel, min_words: int | None = None, *,
            engine: Engine | None = None, partition_users: int = PARTITION_USERS) -> PredictReport:
    """Score every user of ``ws`` with at least ``min_words`` words (default: the model's
    training minimum) and replace this model's rows in ``predictions``.

    With an ``engine`` (:mod:`psyprofile.engine`), users are scored in partitions of
    ``partition_users`` on its workers; the rows are the same as without one."""
    from psyprofile.features.store import list_feature_sets
    from psyprofile.models.train import encode_controls, feature_matrix, user_words
    from psyprofile.store.outcomes import read_outcomes

    spec = saved.spec
    min_words = spec["min_words"] if min_words is None else min_words
    sets = {s["name"]: s["features"] for s in spec["feature_sets"]}
    with ws.connect() as con:
        have = {s["name"] for s in list_feature_sets(con) if s["level"] == "user"}
        lacking = [s for s in sets if s not in have]
        if lacking:
            raise PsyprofileError(
                f"model '{saved.name}' needs the feature sets {', '.join(lacking)}, which this study "
                f"does not have (it has: {', '.join(sorted(have)) or 'none'}). Extract them with the "
                "same settings as the training study (`psyprofile features STUDY ...`)."
            )
        words = user_words(con)
        users = sorted(u for u, w in words.items() if w >= min_words)
        too_few = len(words) - len(users)
        missing_control = 0
        C = np.zeros((len(users), 0))
        if spec["controls"]:
            df = read_outcomes(con, [c["column"] for c in spec["controls"]]).reindex(users)
            C, _, ok = encode_controls(df, spec["controls"])
            missing_control = int((~ok).sum())
            users = [u for u, k in zip(users, ok, strict=True) if k]
            C = C[ok]
        if not users:
            raise PsyprofileError(
                f"no user has {min_words} or more words (and the model's controls); nothing to score. "
                "Lower --min-words, at the cost of less reliable scores."
            )
        missing = _missing_share(con, sets)
        for s, share in missing.items():
            if share > MISSING_WARN:
                warnings.warn(
                    f"{share:.0%} of model '{saved.name}' features of set '{s}' are absent from this "
                    "study; its scores may be biased (different tokenizer, language or lexicon?).",
                    stacklevel=2,
                )
        import scipy.sparse as sp

        X, _ = feature_matrix(con, list(sets), users, sets)
        X = sp.hstack([sp.csr_matrix(C), X], format="csr")
        w = np.array([words[u] for u in users], dtype=np.int64)
        if engine is None:
            rows = _score_partition((saved, users, X, w))
        else:
            parts = ((saved, users[a:a + partition_users], X[a:a + partition_users],
                      w[a:a + partition_users]) for a in range(0, len(users), partition_users))
            rows = pd.concat(engine.map(_score_partition, parts, desc="predict",
                                        total=-(-len(users) // partition_users)),
                             ignore_index=True)
        digest = saved.digest
        rows = _out_of_fold(con, saved, digest, rows)
        # rows of this model only: same name and content, or the same name from before
        # models were told apart by content
        con.execute("DELETE FROM predictions WHERE model = ? AND (model_hash = ? OR model_hash IS NULL)",
                    [saved.name, digest])
        con.register("_pred_in", rows.assign(model_hash=digest)[_COLUMNS])
        try:
            con.execute(f"INSERT INTO predictions ({', '.join(map(quote_ident, _COLUMNS))}) "
                        "SELECT * FROM _pred_in")
        finally:
            con.unregister("_pred_in")
    n_oof = int((rows["fit"] == OUT_OF_FOLD).sum() // max(1, len(rows) // len(users)))
    return PredictReport(saved.name, spec["outcome"], len(users), too_few, missing_control, missing,
                         n_oof, digest)


def store_out_of_fold(con: Any, digest: str, users: list[str], rows: pd.DataFrame) -> None:
    """Keep a model's out-of-fold ``rows`` (from :func:`value_rows`) for its training
    ``users`` in ``model_oof``, for :func:`predict` to hand back instead of in-sample fits."""
    k = len(rows) // max(len(users), 1)
    frame = pd.DataFrame({"model_hash": digest, "user_id": np.repeat(users, k),
                          "outcome": rows["outcome"].to_numpy(), "value": rows["value"].to_numpy()})
    con.execute("DELETE FROM model_oof WHERE model_hash = ?", [digest])
    con.register("_oof_in", frame)
    try:
        con.execute("INSERT INTO model_oof SELECT model_hash, user_id, outcome, value FROM _oof_in")
    finally:
        con.unregister("_oof_in")


def keep_training_predictions(ws: Workspace, result: Any, folder: Any) -> int:
    """After ``save_model(ws, result, ...)`` wrote ``folder``: store the cross-validation's
    out-of-fold predictions of ``result`` (a :class:`~psyprofile.models.train.TrainResult`)
    under the saved model's hash; returns the number of users."""
    from psyprofile.models.persist import load_model

    saved = load_model(folder)
    d = result.data
    rows = value_rows(saved.name, saved.spec, result.oof, d.words)
    with ws.connect() as con:
        store_out_of_fold(con, saved.digest, d.users, rows)
    return len(d.users)


def _out_of_fold(con: Any, saved: SavedModel, digest: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the stored out-of-fold value of every training user, ``fit`` marked."""
    oof = con.execute("SELECT user_id, outcome, value FROM model_oof WHERE model_hash = ?",
                      [digest]).df()
    rows = rows.assign(fit=APPLIED)
    if oof.empty:
        return rows
    merged = rows.merge(oof.rename(columns={"value": "_oof"}), on=["user_id", "outcome"], how="left")
    hit = merged["_oof"].notna().to_numpy()
    v = merged["_oof"].to_numpy(dtype=float)
    half = (merged["hi"] - merged["lo"]).to_numpy(dtype=float) / 2
    lo, hi = v - half, v + half
    if saved.spec["task"] != "regression":
        lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
    for col, new in (("value", v), ("lo", lo), ("hi", hi)):
        merged.loc[hit, col] = new[hit]
    merged.loc[hit, "fit"] = OUT_OF_FOLD
    return merged.drop(columns="_oof")


def _score_partition(part: tuple[SavedModel, list[str], Any, np.ndarray]) -> pd.DataFrame:
    """``score_rows`` of one partition ``(saved, users, X, words)``, with a user_id column."""
    saved, users, X, words = part
    rows = score_rows(saved, X, words)
    rows.insert(0, "user_id", np.repeat(users, len(rows) // len(users)))
    return rows


def score_rows(saved: SavedModel, X: Any, words: np.ndarray) -> pd.DataFrame:
    """Scores with intervals for the rows of ``X``: one row per user (regression, binary) or
    per user and class (more classes), in user-major order."""
    est = saved.estimator
    pred = est.predict(X) if saved.spec["task"] == "regression" else est.predict_proba(X)
    return value_rows(saved.name, saved.spec, pred, words)


def value_rows(name: str, spec: dict[str, Any], pred: np.ndarray, words: np.ndarray) -> pd.DataFrame:
    """Rows of :func:`score_rows` from predictions ``pred``: values (n,) for regression,
    class probabilities (n, k) for classification."""
    s = sigma(spec["reliability"], words)
    if spec["task"] == "regression":
        v = np.asarray(pred, dtype=float)
        return pd.DataFrame({"model": name, "outcome": spec["outcome"], "value": v,
                             "lo": v - 1.96 * s, "hi": v + 1.96 * s, "words": words})
    proba = np.asarray(pred, dtype=float)
    classes = spec["classes"]
    shown = [1] if len(classes) == 2 else list(range(len(classes)))
    n, k = len(words), len(shown)
    v = proba[:, shown].ravel()
    sk = np.repeat(s, k)
    return pd.DataFrame({
        "model": name, "outcome": np.tile([f"{spec['outcome']}={classes[c]}" for c in shown], n),
        "value": v, "lo": np.clip(v - 1.96 * sk, 0, 1), "hi": np.clip(v + 1.96 * sk, 0, 1),
        "words": np.repeat(words, k),
    })


def prediction_summary(con: Any) -> pd.DataFrame:
    """The stored predictions per model (name and content digest ``model_hash``, NULL for
    rows stored before models were told apart by content) and outcome: ``users``,
    ``mean_value`` and ``median_words``; no rows when nothing was predicted."""
    return con.execute(
        "SELECT model, model_hash, outcome, count(*) AS users, avg(value) AS mean_value, "
        "median(words) AS median_words FROM predictions GROUP BY model, model_hash, outcome "
        "ORDER BY model, model_hash NULLS LAST, outcome").df()


def read_predictions(con: Any, name: str, digest: str) -> pd.DataFrame:
    """The stored predictions of the model saved as ``name`` with content digest ``digest``
    (another model saved under the same name has its own rows): one row per user and
    outcome, columns user_id, outcome, value, lo, hi, words."""
    return con.execute("SELECT user_id, outcome, value, lo, hi, words FROM predictions "
                       "WHERE model = ? AND model_hash = ?", [name, digest]).df()
