"""Zero-shot Big Five: how close a user's language is to the IPIP items of each trait.

The items of the IPIP-50 markers and the IPIP-NEO-120 (:mod:`psyprofile.survey.inventories`,
with their keys) and the user's messages are embedded with the same sentence embedder. The
item vectors are centred on the mean of all items (so what every questionnaire sentence
shares, "I ..." self-description, drops out), and a trait's direction is
``d_t = Σ key_i × item_i / n_t`` over its items: a reverse-keyed item ("I don't talk a
lot") counts against the trait. A user's raw score is ``cos(u, ·) · d_t`` with ``u`` the
word-weighted mean of their message vectors; the profile reports it standardised within
the study (z). See ``docs/profiles.md`` (the model card) for the measured stability and
limits: this is weakly valid at best.

Embedders (``ProfileSpec.embedder``):

* ``minilm-static``: the distilled static MiniLM on *all* of a user's text, cached per
  message in its ``emb$minilm-static$...`` table;
* ``minilm``: the full model (its default runtime, int8 ONNX where onnxruntime is
  installed) on the first 254-wordpiece window of up to ``ProfileSpec.max_messages``
  messages per user, spread evenly over the user's messages, cached in the table that
  ``extract_embeddings(..., max_windows=1)`` uses for the same runtime (``cache_table``);
* ``e5-multilingual``: multilingual-e5-small (:mod:`psyprofile.features.multilingual`) on
  every window of the same sample of messages, cached in the table ``features --embeddings
  e5-multilingual`` fills. Items and posts are both embedded as e5 ``"query: "`` texts: the
  model card asks for ``query:`` on both sides of a symmetric comparison, and a post and a
  questionnaire item are both self-description. The items stay English; the posts may be in
  any of the embedder's languages (its vectors put translations close together).

:data:`EMBEDDING` says which messages each embedder covers. All embedders come from
:func:`~psyprofile.features.embeddings.shared_embedder`, so a process builds each once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from psyprofile.profiles.sources import Messages, Source, _sum_by
from psyprofile.profiles.spec import BIG5_UNIT_ZEROSHOT, TRAITS, Dimension, ProfileSpec
from psyprofile.store.db import quote_ident

DIM = 384  # every zero-shot embedder's vector length
WINDOW = 254  # wordpieces per MiniLM window: its 256 less [CLS] and [SEP] (features.embeddings)


@dataclass(frozen=True)
class Embedding:
    """Which of a user's messages a zero-shot embedder covers: a sample of up to
    ``ProfileSpec.max_messages`` per user (``sample``) or all, and of each message the first
    ``max_windows`` windows or (None) all of it."""

    sample: bool
    max_windows: int | None

    @property
    def capped(self) -> bool:
        """Whether a long message rests on part of its words (its first windows)."""
        return self.max_windows is not None


#: zero-shot embedder (:data:`psyprofile.profiles.spec.EMBEDDERS`) -> what it embeds
EMBEDDING = {"minilm-static": Embedding(sample=False, max_windows=None),
             "minilm": Embedding(sample=True, max_windows=1),
             "e5-multilingual": Embedding(sample=True, max_windows=None)}


_DIRECTIONS: dict[tuple, tuple[np.ndarray, dict[str, int]]] = {}
_DIRECTIONS_LOCK = threading.Lock()


def item_directions(embedder, inventories: tuple[str, ...]) -> tuple[np.ndarray, dict[str, int]]:
    """The (384, 5) keyed trait directions (columns in :data:`TRAITS` order) and the
    number of items per trait. The items are fixed, so each embedder runtime embeds them
    once per process (under a lock: the service's threads wait for the one build)."""
    key = (embedder.name, embedder.runtime_id, tuple(inventories))
    with _DIRECTIONS_LOCK:
        if key not in _DIRECTIONS:
            _DIRECTIONS[key] = _item_directions(embedder, inventories)
        D, counts = _DIRECTIONS[key]
    return D.copy(), dict(counts)


def _item_directions(embedder, inventories: tuple[str, ...]) -> tuple[np.ndarray, dict[str, int]]:
    from psyprofile.survey.inventories import load_inventory

    items = [it for name in inventories for it in load_inventory(name).items]
    E = embedder.embed([it.text for it in items]).vectors.astype(np.float64)
    E -= E.mean(axis=0)
    D = np.zeros((E.shape[1], len(TRAITS)))
    counts = dict.fromkeys(TRAITS, 0)
    for it, e in zip(items, E, strict=True):
        D[:, TRAITS.index(it.trait)] += it.key * e
        counts[it.trait] += 1
    return D / np.maximum([counts[t] for t in TRAITS], 1), counts


def sampled_messages(msgs: Messages, k: int) -> np.ndarray:
    """Indices of up to ``k`` messages per user, evenly spread over the user's messages
    (taken from both halves alike, so split-half scores stay comparable)."""
    out = []
    for u in range(len(msgs.users)):
        idx = np.flatnonzero(msgs.user == u)
        if len(idx) > k:
            idx = idx[np.linspace(0, len(idx) - 1, k).round().astype(int)]
        out.append(idx)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _read_cache(con, table: str, msgs: Messages, capped: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (n_messages, 384) and embedded words (n_messages,) from cache ``table``;
    zero rows and weights for messages not in it. ``capped``: the cache holds first windows
    only, so a long message rests on part of its words."""
    t = con.sql("SELECT message_id, vector, n_words, n_tokens, n_windows FROM "
                f"{quote_ident(table)}").to_arrow_table()
    idx = msgs.index()
    rows = np.array([idx.get(m, -1) for m in t.column(0).to_pylist()], dtype=np.int64)
    vec = t.column(1).combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    words = t.column(2).to_numpy().astype(np.float64)
    tokens = t.column(3).to_numpy().astype(np.float64)
    windows = t.column(4).to_numpy().astype(np.float64)
    V = np.zeros((len(msgs.ids), DIM))
    w = np.zeros(len(msgs.ids))
    ok = rows >= 0
    V[rows[ok]] = vec[ok]
    w[rows[ok]] = embedded_words(words[ok], windows[ok], tokens[ok], capped)
    return V, w


def embedded_words(words: np.ndarray, n_windows: np.ndarray, n_tokens: np.ndarray,
                   capped: bool) -> np.ndarray:
    """Per message (all arrays (n,)) the words its vector rests on, at least 1: all its
    ``words``, or when ``capped`` (only the first windows embedded) the share of them in its
    ``n_windows`` windows of :data:`WINDOW` wordpieces out of ``n_tokens``."""
    share = np.minimum(1.0, n_windows * WINDOW / np.maximum(n_tokens, 1)) if capped else 1.0
    return np.maximum(words * share, 1.0)


def _embed_sample(con, msgs: Messages, embedder: str, k: int, progress: bool) -> str:
    """Embed the sampled messages missing from ``embedder``'s cache (as much of each as
    :data:`EMBEDDING` says); returns the cache table."""
    from psyprofile.features.embeddings import create_cache, embed_missing, shared_embedder

    max_windows = EMBEDDING[embedder].max_windows
    emb = shared_embedder(embedder, max_windows=max_windows)
    table = create_cache(con, emb, max_windows)
    want = pa.table({"message_id": msgs.ids[sampled_messages(msgs, k)].tolist()})
    con.register("_want", want)
    try:
        todo = con.execute("SELECT m.message_id, m.text FROM messages m JOIN _want USING (message_id) "
                           f"WHERE m.message_id NOT IN (SELECT message_id FROM {quote_ident(table)})"
                           ).fetchall()
    finally:
        con.unregister("_want")
    embed_missing(con, emb, table, todo, progress, desc=f"embed {embedder} sample ({emb.runtime})")
    return table


def embed_messages(ws, msgs: Messages, spec: ProfileSpec, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Message vectors and their word weights for ``spec.embedder`` (see the module docstring)."""
    from psyprofile.features.embeddings import cache_table, shared_embedder

    plan = EMBEDDING[spec.embedder]
    if not plan.sample:  # minilm-static: all text, through the feature step's cache
        from psyprofile.features.extract import FeatureOptions, extract_features

        extract_features(ws, FeatureOptions(level="user", ngrams=(), embeddings="minilm-static"),
                         progress=progress)
        with ws.connect() as con:
            return _read_cache(con, cache_table(shared_embedder("minilm-static")), msgs,
                               capped=False)
    with ws.connect() as con:
        table = _embed_sample(con, msgs, spec.embedder, spec.max_messages, progress)
        V, w = _read_cache(con, table, msgs, capped=plan.capped)
    keep = np.zeros(len(msgs.ids), dtype=bool)
    keep[sampled_messages(msgs, spec.max_messages)] = True
    w[~keep] = 0.0  # cached messages outside the sample (an earlier, larger k) do not count
    return V, w


class ZeroShotScores(Source):
    """Raw keyed similarities of message groups to the five trait directions."""

    def __init__(self, msgs: Messages, V: np.ndarray, w: np.ndarray, D: np.ndarray, source_id: str):
        self.msgs, self.V, self.w, self.D = msgs, V, w, D
        self.source_id = source_id
        self.dimensions = tuple(Dimension("big5", t, t, BIG5_UNIT_ZEROSHOT) for t in TRAITS)

    def raw(self, groups: np.ndarray, n: int) -> np.ndarray:
        U = _sum_by(groups, self.V * self.w[:, None], n)
        norm = np.linalg.norm(U, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (U / norm) @ self.D

    def words(self, groups: np.ndarray, n: int) -> np.ndarray:
        return _sum_by(groups, self.w[:, None], n)[:, 0]

    def message_effects(self, user: int, dim: int) -> np.ndarray:
        m = self.msgs.user == user
        return np.where(self.w[m] > 0, self.V[m] @ self.D[:, dim], np.nan)


def zeroshot_source(ws, msgs: Messages, spec: ProfileSpec, progress: bool = True) -> ZeroShotScores:
    """The zero-shot Big Five source of ``spec`` over ``msgs`` (embedding what is missing)."""
    from psyprofile.features.embeddings import shared_embedder

    D, _ = item_directions(shared_embedder(spec.embedder), spec.inventories)
    V, w = embed_messages(ws, msgs, spec, progress)
    return ZeroShotScores(msgs, V, w, D, spec.zeroshot_source())
