"""One person's profile sources, computed in memory: what :func:`profile_texts` scores.

:func:`psyprofile.profiles.study.prepare` builds the sources of a study from its feature
tables; for one person that means a throw-away DuckDB study and some twenty connections per
call. Here the same sources are built from the texts directly, with the same rules, so the
scores are the same numbers:

* messages in the order :func:`psyprofile.profiles.sources.load_messages` gives them
  (halves alternate by time, ties by position; then half, position);
* words: tokens of :func:`psyprofile.text.tokenize.tokenize`, as the 1gram tables count them;
* lexica: each message's Σ weight × count over the 1–3grams matching a category, with the
  matching rules of :mod:`psyprofile.features.lexicon` (lower-cased, wildcards of a stem of
  :data:`~psyprofile.features.lexicon.MIN_WILDCARD_STEM`\\ + characters on 1grams only,
  multi-word terms matched exactly against the 2grams and 3grams, the largest weight where
  several entries match, intercepts added to the group score);
* VADER: :func:`psyprofile.features.vader.message_scores` per message
  (:func:`~psyprofile.profiles.sources.compounds`);
* zero-shot Big Five: the embedder on all messages (``minilm-static``), on the first
  window of the sampled ones (``minilm``) or all of them (``e5-multilingual``), with the
  word weights :mod:`psyprofile.profiles.zeroshot` reads from its caches.

What does not depend on the texts (lexica, their intercepts, the trait directions, the
embedders) is loaded once per process and spec (:func:`spec_resources`; the embedders once
per process for every spec, :func:`~psyprofile.features.embeddings.shared_embedder`): a
lexicon file is read on the first call with its spec, so edit it and restart a long-running
service.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from psyprofile.profiles.sources import LexiconScores, Messages, Source, VaderScores, compounds
from psyprofile.profiles.spec import LexiconSource, ProfileSpec
from psyprofile.profiles.zeroshot import (
    DIM,
    EMBEDDING,
    ZeroShotScores,
    embedded_words,
    item_directions,
    sampled_messages,
)


@dataclass(frozen=True)
class LexiconIndex:
    """A lexicon's entries for the categories of one :class:`LexiconSource`, lower-cased
    (intercepts apart), as sparse rows of weights (n_dims columns): ``exact`` maps a term to
    its row of ``exact_w``, the largest weight of its entries per category; ``stems[n]``
    holds ``(stem -> row, weights)`` for the wildcard stems of ``n`` characters."""

    source: LexiconSource
    set_name: str
    intercepts: dict[str, float]
    exact: dict[str, int]
    exact_w: sp.csr_matrix
    stems: dict[int, tuple[dict[str, int], sp.csr_matrix]]

    def weights(self, vocab: list[str]) -> sp.csr_matrix:
        """(len(vocab), n_dims) weight of each lower-cased n-gram in each dimension's
        category: the largest of the entries matching it (the term itself, and for a 1gram
        the wildcards of its prefixes); 0 where it matches none."""
        hits = [_rows_of(np.arange(len(vocab)), [self.exact.get(w, -1) for w in vocab],
                         self.exact_w)]
        ones = [i for i, w in enumerate(vocab) if " " not in w]
        for n, (rows, W) in self.stems.items():
            at = [i for i in ones if len(vocab[i]) >= n]
            hits.append(_rows_of(np.array(at, dtype=np.int64),
                                 [rows.get(vocab[i][:n], -1) for i in at], W))
        return _max_by_cell(hits, (len(vocab), len(self.source.dimensions)))


Cells = tuple[np.ndarray, np.ndarray, np.ndarray]  # (rows, columns, values)


def _rows_of(at: np.ndarray, rows: list[int], W: sp.csr_matrix) -> Cells:
    """The cells of rows ``rows`` of ``W`` (-1: none), each row renamed ``at[i]``."""
    r = np.asarray(rows, dtype=np.int64)
    ok = r >= 0
    sub = W[r[ok]].tocoo()  # keeps explicit zero weights: a 0 outranks a negative wildcard
    return at[ok][sub.row], sub.col.astype(np.int64), sub.data


def _max_by_cell(parts: list[Cells], shape: tuple[int, int]) -> sp.csr_matrix:
    """One CSR matrix of ``shape`` holding, per cell, the largest value any part gives it."""
    r, c, v = (np.concatenate(x) for x in zip(*parts, strict=True))
    key = r * shape[1] + c
    order = np.argsort(key, kind="stable")
    key, v = key[order], v[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    best = np.maximum.reduceat(v, first) if len(first) else v
    return sp.csr_matrix((best, (key[first] // shape[1], key[first] % shape[1])), shape=shape)


def _weight_rows(by_term: dict[str, dict[int, float]], n_cols: int) -> tuple[dict[str, int], sp.csr_matrix]:
    """``term -> row`` and the (n_terms, n_cols) CSR matrix of the terms' weights, explicit
    zeros kept."""
    indptr, indices, data = [0], [], []
    for cols in by_term.values():
        indices += list(cols)
        data += list(cols.values())
        indptr.append(len(indices))
    W = sp.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64),
                       np.array(indptr, dtype=np.int64)), shape=(len(by_term), n_cols))
    return {t: i for i, t in enumerate(by_term)}, W


def _merge(into: dict[int, float], more: dict[int, float]) -> None:
    for c, w in more.items():
        into[c] = max(into.get(c, -np.inf), w)


def index_lexicon(source: LexiconSource, set_name: str, intercepts: dict[str, float]) -> LexiconIndex:
    """The :class:`LexiconIndex` of ``source`` (its lexicon resolved as the study does)."""
    from psyprofile.features.lexicon import MIN_WILDCARD_STEM
    from psyprofile.lexica.load import INTERCEPT
    from psyprofile.lexica.registry import resolve_lexicon

    col = {d.category: j for j, d in enumerate(source.dimensions)}
    exact: dict[str, dict[int, float]] = {}
    stems: dict[int, dict[str, dict[int, float]]] = {}
    e = resolve_lexicon(source.ref).entries.to_pydict()
    for term, cat, w in zip(e["term"], e["category"], e["weight"], strict=True):
        if term == INTERCEPT or cat not in col:
            continue
        term = term.lower()
        _merge(exact.setdefault(term, {}), {col[cat]: w})
        if term.endswith("*") and len(term) > MIN_WILDCARD_STEM:
            _merge(stems.setdefault(len(term) - 1, {}).setdefault(term[:-1], {}), {col[cat]: w})
    n = len(source.dimensions)
    return LexiconIndex(source, set_name, intercepts, *_weight_rows(exact, n),
                        {k: _weight_rows(by_stem, n) for k, by_stem in stems.items()})


def multiword_grams(lexica: tuple[LexiconIndex, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The lexica's terms of several words and their leading words ("a", "a b" of "a b c"),
    what :func:`_counts` needs to count them."""
    multi = frozenset(t for ix in lexica for t in ix.exact if " " in t)
    words = [t.split(" ") for t in multi]
    return multi, frozenset(" ".join(w[:k]) for w in words for k in range(1, len(w)))


@dataclass(frozen=True)
class SpecResources:
    """What scoring with a spec needs besides the texts."""

    lexica: tuple[LexiconIndex, ...]
    directions: np.ndarray | None  # (384, 5) keyed trait directions, zero-shot only
    embedder: object | None        # embeds the person's messages, zero-shot only
    multiword: frozenset[str] = frozenset()  # the lexica's terms with a space in them
    prefixes: frozenset[str] = frozenset()   # their leading words: "a", "a b" of "a b c"


@lru_cache(maxsize=8)
def spec_resources(spec: ProfileSpec) -> SpecResources:
    """Lexica, trait directions and embedder of ``spec``, loaded once per process."""
    # prepare()'s lexicon checks and intercepts, so a bad spec fails with the study's message
    from psyprofile.profiles.study import lexicon_meta

    meta = lexicon_meta(None, spec)
    lexica = tuple(index_lexicon(s, lex.name, icpt)
                   for s, (lex, icpt) in zip(spec.lexica, meta, strict=True))
    grams = multiword_grams(lexica)
    if not spec.zeroshot:
        return SpecResources(lexica, None, None, *grams)
    from psyprofile.features.embeddings import shared_embedder

    # the process-wide embedders the study path uses (zeroshot_source, _embed_sample): a new
    # spec (or the study path beside it) builds no second ONNX session of the same model
    directions, _ = item_directions(shared_embedder(spec.embedder), spec.inventories)
    # as much of each message as zeroshot's cache holds (the full MiniLM: its first window)
    embedder = shared_embedder(spec.embedder, max_windows=EMBEDDING[spec.embedder].max_windows)
    return SpecResources(lexica, directions, embedder, *grams)


def person_messages(texts: list[str], tokens: list[list[str]],
                    times: list[object | None]) -> tuple[Messages, np.ndarray]:
    """One user's :class:`Messages` from their ``texts``, per-text ``tokens`` and ``times``
    (comparable, or None), in :func:`~psyprofile.profiles.sources.load_messages` order (by
    time, then by the MD5 of the text), and ``order``: the text index of each message."""
    import hashlib

    n = len(tokens)
    digest = [hashlib.md5(t.encode("utf-8")).hexdigest() for t in texts]
    by_time = sorted(range(n), key=lambda i: (times[i] is None, times[i] or 0, digest[i], i))
    half = np.empty(n, dtype=np.int64)
    half[by_time] = np.arange(n) % 2
    rank = np.empty(n, dtype=np.int64)
    rank[by_time] = np.arange(n)
    order = np.lexsort((rank, half))
    words = np.array([len(tokens[i]) for i in order], dtype=np.float64)
    ids = np.array([f"m{i:06d}" for i in order])
    return Messages(ids, np.zeros(n, dtype=np.int64), half[order], words, ["person"]), order


def _counts(tokens: list[list[str]], terms: frozenset[str],
            prefixes: frozenset[str]) -> tuple[sp.csr_matrix, list[str]]:
    """(n_messages, n_terms) counts of the lower-cased 1grams and of the longer n-grams
    (tokens joined by one space, as the n-gram tables write them) that are among ``terms``,
    and the terms (columns). No other n-gram can match a lexicon (wildcards expand over
    1grams only), so an n-gram is only grown while it is one of the ``prefixes`` (the
    terms' leading words)."""
    col: dict[str, int] = {}
    rows, cols = [], []
    for m, toks in enumerate(tokens):
        low = [t.lower() for t in toks]
        grams = list(low)
        for i, g in enumerate(low):
            j = i + 1
            while g in prefixes and j < len(low):
                g = g + " " + low[j]
                j += 1
                if g in terms:
                    grams.append(g)
        cols += [col.setdefault(g, len(col)) for g in grams]
        rows += [m] * len(grams)
    C = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(tokens), len(col)))
    return C, list(col)


def _zeroshot(msgs: Messages, texts: list[str], spec: ProfileSpec,
              res: SpecResources) -> ZeroShotScores:
    """Message vectors and word weights as :func:`psyprofile.profiles.zeroshot.embed_messages`
    reads them from its caches, for the messages of one person."""
    plan = EMBEDDING[spec.embedder]
    take = sampled_messages(msgs, spec.max_messages) if plan.sample else np.arange(len(texts))
    e = res.embedder.embed([texts[i] for i in take])
    V = np.zeros((len(texts), DIM))
    w = np.zeros(len(texts))
    V[take] = e.vectors
    w[take] = embedded_words(msgs.words[take], e.n_windows, e.n_tokens,
                             capped=plan.capped)
    return ZeroShotScores(msgs, V, w, res.directions, spec.zeroshot_source())


def person_sources(tokens: list[list[str]], texts: list[str], times: list[object | None],
                   spec: ProfileSpec) -> tuple[Messages, list[Source]]:
    """The :class:`Messages` of one person's ``texts`` (with their ``tokens`` and ``times``)
    and the sources of ``spec`` over them, as ``prepare`` gives them for a study."""
    res = spec_resources(spec)
    msgs, order = person_messages(texts, tokens, times)
    tokens = [tokens[i] for i in order]
    texts = [texts[i] for i in order]
    C, vocab = _counts(tokens, res.multiword, res.prefixes)
    sources: list[Source] = []
    for ix in res.lexica:
        W = ix.weights(vocab)
        matched = np.asarray((W != 0).sum(axis=1)).ravel() > 0
        sources.append(LexiconScores(msgs, ix.source, ix.set_name, ix.intercepts,
                                     (C @ W).toarray(), C @ matched.astype(np.float64)))
    if spec.vader:
        sources.append(VaderScores(msgs, np.array(compounds(texts))))
    if spec.zeroshot:
        sources.append(_zeroshot(msgs, texts, spec, res))
    return msgs, sources
