"""Apply a saved model to a study's users, with a reliability estimate per score.

How far a user's score can be trusted depends mostly on how much text it rests on. The
model keeps a fit of the cross-validation error against word count,
``E|residual| = a + b / sqrt(words)``; for a normal error ``sigma = E|residual| * sqrt(pi/2)``,
so each score is stored with ``lo, hi = value -/+ 1.96 sigma(words)`` (probabilities
clipped to [0, 1]). Scores go to the table
``predictions(user_id, model, outcome, value, lo, hi, words)``.
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
from psyprofile.store.workspace import Workspace

MISSING_WARN = 0.2  # warn when this share of a set's model features is absent from the study
PARTITION_USERS = 20_000  # users scored per task on an engine
_DDL = """CREATE TABLE IF NOT EXISTS predictions (
    user_id VARCHAR NOT NULL, model VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
    value DOUBLE, lo DOUBLE, hi DOUBLE, words BIGINT
)"""


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

    def summary(self) -> str:
        miss = ", ".join(f"{s} {v:.0%}" for s, v in self.missing_features.items())
        return (f"model {self.model} ({self.outcome}): scored {self.scored:,} users; skipped "
                f"{self.too_few_words:,} with too few words and {self.missing_control:,} without "
                f"control values; model features missing from this study: {miss}")


def _missing_share(con: Any, sets: dict[str, list[str]]) -> dict[str, float]:
    from psyprofile.features.store import table_name

    out = {}
    for s, feats in sets.items():
        con.register("_model_feats", pd.DataFrame({"feature": feats}))
        try:
            present = con.execute(
                f'SELECT count(*) FROM _model_feats m WHERE EXISTS '
                f'(SELECT 1 FROM "{table_name(s, "user")}" t WHERE t.feature = m.feature)'
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
        con.execute(_DDL)
        con.execute("DELETE FROM predictions WHERE model = ?", [saved.name])
        con.register("_pred_in", rows)
        try:
            con.execute("INSERT INTO predictions SELECT user_id, model, outcome, value, lo, hi, words FROM _pred_in")
        finally:
            con.unregister("_pred_in")
    return PredictReport(saved.name, spec["outcome"], len(users), too_few, missing_control, missing)


def _score_partition(part: tuple[SavedModel, list[str], Any, np.ndarray]) -> pd.DataFrame:
    """``score_rows`` of one partition ``(saved, users, X, words)``, with a user_id column."""
    saved, users, X, words = part
    rows = score_rows(saved, X, words)
    rows.insert(0, "user_id", np.repeat(users, len(rows) // len(users)))
    return rows


def score_rows(saved: SavedModel, X: Any, words: np.ndarray) -> pd.DataFrame:
    """Scores with intervals for the rows of ``X``: one row per user (regression, binary) or
    per user and class (more classes), in user-major order."""
    spec, est = saved.spec, saved.estimator
    s = sigma(spec["reliability"], words)
    if spec["task"] == "regression":
        v = est.predict(X)
        return pd.DataFrame({"model": saved.name, "outcome": spec["outcome"], "value": v,
                             "lo": v - 1.96 * s, "hi": v + 1.96 * s, "words": words})
    proba = est.predict_proba(X)
    classes = spec["classes"]
    shown = [1] if len(classes) == 2 else list(range(len(classes)))
    n, k = len(words), len(shown)
    v = proba[:, shown].ravel()
    sk = np.repeat(s, k)
    return pd.DataFrame({
        "model": saved.name, "outcome": np.tile([f"{spec['outcome']}={classes[c]}" for c in shown], n),
        "value": v, "lo": np.clip(v - 1.96 * sk, 0, 1), "hi": np.clip(v + 1.96 * sk, 0, 1),
        "words": np.repeat(words, k),
    })
