"""The in-memory lexicon scorer of ``profile_texts`` against the study's SQL matching.

:class:`psyprofile.profiles.person.LexiconIndex` matches a person's n-grams with sparse
row look-ups; the study matches a vocabulary in DuckDB with
:data:`psyprofile.features.lexicon.MATCHED_SQL`. On random lexica (wildcards long and short,
multi-word terms, terms in two cases, zero and negative weights) and random texts, both give
the same weight to every (n-gram, category), and the per-message sums
(:func:`~psyprofile.profiles.person.person_sources`'s ``C @ W``, which counts only the
n-grams that can match) equal Σ count × weight over *all* the message's n-grams.
"""

from __future__ import annotations

import csv
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psyprofile.features.lexicon import match_terms
from psyprofile.lexica.load import INTERCEPT
from psyprofile.profiles.person import _counts, index_lexicon, multiword_grams
from psyprofile.profiles.spec import Dimension, LexiconSource

CATS = ("anger", "joy", "sadness")
SOURCE_DIMS = tuple(Dimension("emotions", c, c, "per word") for c in CATS[:2])  # sadness unused

word = st.text(alphabet="abeAEéÉ'", min_size=1, max_size=6)
wildcard = st.builds(lambda w: w + "*", st.text(alphabet="abeAé", min_size=1, max_size=5))
term = st.one_of(word, wildcard, st.lists(word, min_size=2, max_size=3).map(" ".join),
                 st.just(INTERCEPT))
weight = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.5]),
                   st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 3)))
entries = st.lists(st.tuples(term, st.sampled_from(CATS), weight), min_size=1, max_size=25,
                   unique_by=lambda r: (r[0], r[1]))  # a lexicon file has each pair once


@st.composite
def lexicon_phrases(draw) -> tuple[list[tuple[str, str, float]], st.SearchStrategy[list[str]]]:
    """A lexicon's rows and a strategy of phrases (token lists) that often hit its terms:
    one of its words, in either case, with a suffix now and then (wildcards), one of its
    multi-word terms, or any word."""
    rows = draw(entries)
    terms = [t.rstrip("*").split() for t, _, _ in rows if t != INTERCEPT]
    own = st.sampled_from(sorted({"abe"} | {w for t in terms for w in t}))
    token = st.one_of(own, own.map(str.upper), word,
                      st.builds(str.__add__, own, st.text(alphabet="abé", min_size=1, max_size=2)))
    return rows, st.one_of(token.map(lambda t: [t]), st.sampled_from(terms or [["abe"]]))


def write_lexicon(rows: list[tuple[str, str, float]]) -> Path:
    path = Path(tempfile.mkdtemp(prefix="psyprofile-lex-")) / "lex.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["term", "category", "weight"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def sql_weights(con, rows: list[tuple[str, str, float]],
                vocab: list[str]) -> dict[tuple[str, str], float]:
    """(word, category) -> weight, as the study's DuckDB matching gives them."""
    con.register("_lex", pa.table({"term": [r[0] for r in rows],
                                   "category": [r[1] for r in rows],
                                   "weight": [float(r[2]) for r in rows]}))
    con.register("vocab_t", pa.table({"feature": pa.array(vocab, pa.string())}))
    match_terms(con, "vocab_t")
    return {(w, c): x for w, c, x in con.execute("SELECT * FROM _matched").fetchall()}


def index(rows):
    source = LexiconSource("nrc_emot", SOURCE_DIMS, str(write_lexicon(rows)))
    return index_lexicon(source, "nrc_emot", {})


def grams(tokens: list[str], n: int) -> list[str]:
    low = [t.lower() for t in tokens]
    return [" ".join(low[i:i + n]) for i in range(len(low) - n + 1)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_weights_equal_the_study_sql_matching(con, data):
    rows, phrase = data.draw(lexicon_phrases())
    gram = st.lists(phrase, min_size=1, max_size=2).map(lambda ps: " ".join(sum(ps, [])).lower())
    vocab = data.draw(st.lists(gram, max_size=30, unique=True))
    ix = index(rows)
    want = sql_weights(con, rows, vocab)
    got = ix.weights(vocab).toarray()
    assert got.shape == (len(vocab), len(SOURCE_DIMS))
    for i, w in enumerate(vocab):
        for j, d in enumerate(SOURCE_DIMS):
            assert got[i, j] == want.get((w, d.category), 0.0), (w, d.category)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_message_sums_count_every_matching_ngram(con, data):
    rows, phrase = data.draw(lexicon_phrases())
    msgs = data.draw(st.lists(st.lists(phrase, max_size=8).map(lambda ps: sum(ps, [])),
                              min_size=1, max_size=5))
    ix = index(rows)
    C, vocab = _counts(msgs, *multiword_grams((ix,)))
    S = (C @ ix.weights(vocab)).toarray()
    all_grams = [Counter(g for n in range(1, 5) for g in grams(toks, n)) for toks in msgs]
    want = sql_weights(con, rows, sorted({g for c in all_grams for g in c}))
    for m, counts in enumerate(all_grams):
        for j, d in enumerate(SOURCE_DIMS):
            ref = sum(k * want.get((g, d.category), 0.0) for g, k in counts.items())
            assert S[m, j] == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_a_zero_weight_outranks_a_negative_wildcard():
    ix = index([("happy", "joy", 0.0), ("hap*", "joy", -2.0), ("hap*", "anger", -1.0)])
    W = ix.weights(["happy", "hapless"]).toarray()
    np.testing.assert_array_equal(W, [[-1.0, 0.0], [-1.0, -2.0]])
