"""Weighted-lexicon models: a published lexicon category applied as a linear model of 1grams.

A lexicon such as Sap et al. (2014)'s age/gender lexicon (``dd_emnlp14_ageGender``) *is* a
linear model: for a user, ``score = sum_w weight(w) * group_norm(w) + intercept``, with
``group_norm(w)`` the user's count of 1gram ``w`` over their 1gram tokens and ``intercept``
the category's ``_intercept`` entry. Exposed as a saved model (``"kind": "lexicon"`` in
``model.json``), it is found, listed and applied like any trained model.

The model folder holds no weights: ``model.json`` names the lexicon (a bundled name such as
``dd_emnlp14_ageGender``, obtained from DLATK's sdist on first use and cached, or a lexicon
file path, relative to the folder) and the category, and records the SHA-256 of the weights
it was built with, so a changed lexicon is refused rather than silently applied.

Matching is that of :mod:`psyprofile.features.lexicon` (lower-cased, as DLATK's): the study's
1grams are lower-case except emoticons, which the tokenizer keeps as written (``:D``), so
each lexicon term that can appear as an upper-case emoticon (``:d``) also reads those
variants (``:D``) with the same weight. Multi-word terms never match 1grams and are left out.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from psyprofile.errors import PsyprofileError
from psyprofile.lexica.load import INTERCEPT, Lexicon

KIND = "lexicon"
SOURCE_SET = "1gram"
MAX_CASE_LETTERS = 3  # emoticons have at most a few letters; bounds the 2^k case variants


class LexiconModel:
    """``score = X @ weights + intercept`` on the columns ``features``.

    ``task='regression'``: :meth:`predict` is the score (the lexicon's unit, e.g. years).
    ``task='classification'``: two classes, ``P(class 1) = logistic(score)`` (for the gender
    lexicon, class 1 is female: a positive score means female).
    """

    def __init__(self, features: list[str], weights: np.ndarray, intercept: float,
                 task: str = "regression") -> None:
        self.features = features
        self.weights = np.asarray(weights, dtype=np.float64)
        self.intercept = float(intercept)
        self.task = task

    def linear_scores(self, X: Any) -> np.ndarray:
        """Scores, shape (n, 1), for ``X`` of shape (n, len(features)) (sparse or dense)."""
        return (np.asarray(X @ self.weights).ravel() + self.intercept)[:, None]

    def predict(self, X: Any) -> np.ndarray:
        """Regression: the scores, shape (n,). Classification: the class index, shape (n,)."""
        d = self.linear_scores(X)[:, 0]
        return (d > 0).astype(np.int64) if self.task == "classification" else d

    def predict_proba(self, X: Any) -> np.ndarray:
        """Shape (n, 2): ``[1 - p, p]`` with ``p = logistic(score)``."""
        from scipy.special import expit

        p = expit(self.linear_scores(X)[:, 0])
        return np.column_stack([1 - p, p])


def _case_variants(term: str) -> list[str]:
    """Spellings of ``term`` other than itself that the tokenizer keeps as one token as
    written (upper-case emoticons: ``:d`` -> ``:D``)."""
    from psyprofile.text.tokenize import tokenize

    letters = [i for i, c in enumerate(term) if c.isalpha()]
    if not letters or len(letters) > MAX_CASE_LETTERS or term.isalpha():
        return []
    out = []
    for flips in itertools.product((False, True), repeat=len(letters)):
        if not any(flips):
            continue
        chars = list(term)
        for i, up in zip(letters, flips, strict=True):
            chars[i] = chars[i].upper() if up else chars[i]
        v = "".join(chars)
        if tokenize(v) == [v]:
            out.append(v)
    return out


def category_weights(lexicon: Lexicon, category: str) -> tuple[dict[str, float], float]:
    """``({lower-cased term: weight}, intercept)`` of one category; multi-word terms dropped;
    a term listed twice keeps its largest weight, as lexicon features do."""
    t = lexicon.entries.filter(pc.equal(lexicon.entries.column("category"), category))
    if t.num_rows == 0:
        raise PsyprofileError(
            f"lexicon '{lexicon.name}' has no category '{category}' (it has: "
            f"{', '.join(lexicon.categories)}). Check the model's model.json."
        )
    weights: dict[str, float] = {}
    intercept = 0.0
    for term, w in zip(t.column("term").to_pylist(), t.column("weight").to_pylist(), strict=True):
        if term == INTERCEPT:
            intercept = float(w)
        elif " " not in term.strip():
            key = term.strip().lower()
            weights[key] = max(weights.get(key, -np.inf), float(w))
    return weights, intercept


def weights_digest(weights: dict[str, float], intercept: float) -> str:
    """SHA-256 of a category's weights (terms sorted), to detect a changed lexicon."""
    h = hashlib.sha256()
    for term in sorted(weights):
        h.update(f"{term}\t{weights[term]!r}\n".encode())
    h.update(f"{INTERCEPT}\t{intercept!r}\n".encode())
    return h.hexdigest()


def build_estimator(lexicon: Lexicon, category: str, task: str) -> tuple[LexiconModel, str]:
    """The model of ``category`` over the 1gram columns it reads, and its weights' digest."""
    weights, intercept = category_weights(lexicon, category)
    features, w = [], []
    for term in sorted(weights):
        for spelling in [term, *_case_variants(term)]:
            features.append(spelling)
            w.append(weights[term])
    return LexiconModel(features, np.array(w), intercept, task), weights_digest(weights, intercept)


def lexicon_state(lexicon_ref: str, category: str, digest: str, lexicon: Lexicon) -> dict[str, Any]:
    """The ``estimator`` entry of ``model.json`` for a lexicon model."""
    return {"kind": KIND, "lexicon": lexicon_ref, "category": category, "weights_sha256": digest,
            "lexicon_source": lexicon.source, "licence": lexicon.licence,
            "citation": lexicon.citation}


def load_estimator(state: dict[str, Any], task: str, folder: Path) -> LexiconModel:
    """Rebuild a lexicon model from its ``estimator`` entry: the lexicon is resolved by name
    (bundled) or as a path relative to ``folder``; its weights must match the recorded digest."""
    from psyprofile.lexica.registry import BUNDLED, resolve_lexicon

    ref = state["lexicon"]
    source = ref if ref in BUNDLED else str(folder / ref)
    lexicon = resolve_lexicon(source)
    model, digest = build_estimator(lexicon, state["category"], task)
    if digest != state["weights_sha256"]:
        raise PsyprofileError(
            f"{folder / 'model.json'}: the weights of lexicon '{ref}' category "
            f"'{state['category']}' ({lexicon.source}) differ from those the model was built "
            "with; the lexicon was changed. Rebuild the model from the current lexicon, or "
            "restore the original lexicon."
        )
    return model
