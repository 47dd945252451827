"""LDA topics learned from a study's messages, stored as a weighted lexicon.

:func:`train_topics` fits scikit-learn's ``LatentDirichletAllocation`` (online variational
Bayes, seeded: the same posts, parameters and seed give the same topics) on the messages'
bags of words, using the project tokenizer. Each message is one document, as in DLATK.
The vocabulary leaves out punctuation tokens, the ``stopwords`` most frequent tokens
(50 by default, as DLATK's), tokens in fewer than ``min_df`` messages and, so that a topic
lexicon shared with another study does not carry a name or handle only a few people use,
tokens used by fewer than ``min_users`` users (default: the study's ``min_group_size``).
On the blog corpus (31,366 messages, 16k words) k=200 costs about 45 s of CPU per pass
(one core: ``n_jobs=1`` keeps the result independent of the machine), so the default 10
passes take 8 minutes; fewer passes give rougher topics.

The model is stored as lexicon ``<name>`` (table ``lexicon$<name>``) whose weights are
p(topic | word), as DLATK's ``*_cp`` topic lexica (e.g. ``fb2000_cp``) are: applied with
:func:`psyprofile.features.lexicon.extract_lexicon`, a group's ``group_norm`` for a topic is
Σ_w p(w | group) p(topic | w), its estimated share of the group's words from that topic.
p(topic | word) is the word's expected topic assignments (the fitted topic-word
parameters minus their prior) normalised over topics; weights below ``min_weight`` are
dropped and each word's remaining weights rescaled to sum to 1, which keeps the lexicon
small; a topic no word is assigned to (online LDA can leave some unused) has no
entries, so it yields no feature. The ``top`` most probable words of each topic, by p(word | topic), are kept in
``topics$<name>`` for :func:`top_words`.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from psyprofile.engine.lifeline import exit_with_parent
from psyprofile.errors import InputError, PsyprofileError
from psyprofile.lexica.load import Lexicon, check_name
from psyprofile.lexica.registry import BUNDLED, load_stored, save_lexicon
from psyprofile.store.db import table_exists

_SEP = "\x1f"  # joins a message's tokens for the trip back from a worker; no token holds it
_CHUNK = 2000  # messages per tokenizing task
_IN_PROCESS_BELOW = 4000  # messages; fewer are tokenized without starting workers


def topics_table(name: str) -> str:
    """The study table holding the top words of topic model ``name``."""
    return f"topics${name}"


def _tokenize_joined(texts: Sequence[str]) -> list[str]:
    from psyprofile.text.tokenize import tokenize

    return [_SEP.join(tokenize(t)) for t in texts]


def _split(doc: str) -> list[str]:
    return doc.split(_SEP) if doc else []


def _tokenize_all(texts: list[str], progress: bool) -> list[str]:
    chunks = [texts[i:i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
    bar = tqdm(total=len(texts), desc="tokenize", unit="msg", disable=not progress)
    out: list[str] = []
    if len(texts) < _IN_PROCESS_BELOW:
        results = map(_tokenize_joined, chunks)
        pool = None
    else:
        # spawn, not fork: DuckDB's threads in this process must not be copied mid-flight
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=exit_with_parent)
        results = pool.map(_tokenize_joined, chunks)
    try:
        for c, part in zip(chunks, results, strict=True):
            out.extend(part)
            bar.update(len(c))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return out


def _doc_term_matrix(docs: list[str], users: list[str], min_df: int, min_users: int,
                     stopwords: int):
    """Counts (messages × vocabulary, CSR) and the vocabulary after the filters."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer

    from psyprofile.text.tokenize import token_kind

    vec = CountVectorizer(analyzer=_split, min_df=min_df)
    X = vec.fit_transform(docs).tocsc()
    vocab = vec.get_feature_names_out()
    keep = np.array([token_kind(t) != "punct" for t in vocab], dtype=bool)
    if stopwords:
        totals = np.asarray(X.sum(axis=0)).ravel()
        keep[np.argsort(-totals, kind="stable")[:stopwords]] = False
    if min_users > 1:
        uid, u_index = np.unique(np.asarray(users), return_inverse=True)
        owner = sp.csr_matrix((np.ones(len(users)), (u_index, np.arange(len(users)))),
                              shape=(len(uid), len(users)))
        per_user = (owner @ X).tocsc()
        keep &= np.diff(per_user.indptr) >= min_users  # distinct users per word
    X = X[:, keep].tocsr()
    return X, vocab[keep]


def train_topics(
    ws: Any,
    k: int = 200,
    name: str | None = None,
    seed: int = 42,
    max_iter: int = 10,
    min_df: int = 5,
    min_users: int | None = None,
    stopwords: int = 50,
    batch_size: int = 1024,
    min_weight: float = 1e-3,
    top: int = 30,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit ``k`` LDA topics on the study's messages and store them as lexicon ``name``
    (default ``lda<k>``); see the module docstring for the model and what is stored.

    ``max_iter`` passes over the messages in mini-batches of ``batch_size``. Returns
    ``{'name', 'topics', 'documents', 'vocabulary', 'entries', 'seconds'}``.
    """
    from sklearn.decomposition import LatentDirichletAllocation

    name = check_name(name or f"lda{k}", "topic model name")
    if name in BUNDLED:
        raise InputError(f"'{name}' is the name of a bundled lexicon; choose another name.")
    if k < 2:
        raise InputError(f"k={k}: a topic model needs at least 2 topics.")
    t0 = time.perf_counter()
    min_users = ws.min_group_size() if min_users is None else min_users
    with ws.connect() as con:
        rows = con.execute("SELECT user_id, text FROM messages ORDER BY message_id").fetchall()
    if not rows:
        raise PsyprofileError("the study holds no messages; ingest posts before training topics.")
    users, texts = [r[0] for r in rows], [r[1] for r in rows]
    docs = _tokenize_all(texts, progress)
    X, vocab = _doc_term_matrix(docs, users, min_df, min_users, stopwords)
    nonempty = np.diff(X.indptr) > 0
    X = X[nonempty]
    if X.shape[0] < 2 or X.shape[1] < k:
        raise InputError(
            f"too little text for {k} topics: {X.shape[0]:,} messages and {X.shape[1]:,} "
            f"words are left after the vocabulary filters (min_df={min_df}, "
            f"min_users={min_users}, stopwords={stopwords}). Lower k or the filters."
        )
    lda = LatentDirichletAllocation(
        n_components=k, learning_method="online", batch_size=batch_size,
        total_samples=X.shape[0], random_state=seed, n_jobs=1,
    )
    # partial_fit over the mini-batches in order is what fit() does, with a progress bar
    n_batches = -(-X.shape[0] // batch_size)
    with tqdm(total=max_iter * n_batches, desc=f"LDA k={k}", unit="batch",
              disable=not progress) as bar:
        for _ in range(max_iter):
            for start in range(0, X.shape[0], batch_size):
                lda.partial_fit(X[start:start + batch_size])
                bar.update(1)
    entries = _topic_given_word(lda.components_, lda.topic_word_prior_, vocab, min_weight)
    top_words = _top_words(lda.components_, vocab, top)
    params = {"k": k, "seed": seed, "max_iter": max_iter, "min_df": min_df,
              "min_users": min_users, "stopwords": stopwords, "batch_size": batch_size,
              "min_weight": min_weight, "documents": int(X.shape[0]),
              "vocabulary": int(X.shape[1]), "tokenizer": "psyprofile.text.tokenize"}
    lex = Lexicon(name, True, entries,
                  licence="Derived from this study's posts; share it only as their terms allow.",
                  citation="", source=f"LDA (scikit-learn, online VB) trained on study "
                  f"'{ws.config.get('name', '')}'")
    with ws.connect() as con:
        save_lexicon(con, lex, kind="topics", params=params)
        con.register("_top_in", top_words)
        try:
            con.execute(f'CREATE OR REPLACE TABLE "{topics_table(name)}" AS SELECT * FROM _top_in')
        finally:
            con.unregister("_top_in")
    return {"name": name, "topics": k, "documents": int(X.shape[0]),
            "vocabulary": int(X.shape[1]), "entries": entries.num_rows,
            "seconds": round(time.perf_counter() - t0, 2)}


def _topic_given_word(components: np.ndarray, prior: float, vocab: np.ndarray,
                      min_weight: float) -> pa.Table:
    """(term, category, weight = p(topic | term)) rows from the k × V topic-word parameters."""
    counts = np.clip(components - prior, 0.0, None)
    total = counts.sum(axis=0)
    total[total == 0] = 1.0
    p = counts / total
    p[p < min_weight] = 0.0
    p /= np.where(p.sum(axis=0) > 0, p.sum(axis=0), 1.0)
    topic, word = np.nonzero(p)
    return pa.table({"term": pa.array(vocab[word].tolist(), pa.string()),
                     "category": pa.array(topic.astype(str).tolist(), pa.string()),
                     "weight": pa.array(p[topic, word], pa.float64())})


def _top_words(components: np.ndarray, vocab: np.ndarray, top: int) -> pa.Table:
    """The ``top`` words of each topic by p(word | topic): (topic, rank, term, p)."""
    p = components / components.sum(axis=1, keepdims=True)
    order = np.argsort(-p, axis=1, kind="stable")[:, :top]
    k, n = order.shape
    topic = np.repeat(np.arange(k), n)
    word = order.ravel()
    return pa.table({"topic": pa.array(topic.astype(str).tolist(), pa.string()),
                     "rank": pa.array(np.tile(np.arange(1, n + 1), k), pa.int32()),
                     "term": pa.array(vocab[word].tolist(), pa.string()),
                     "p": pa.array(p[topic, word], pa.float64())})


def top_words(ws: Any, name: str, top: int = 10) -> dict[str, list[tuple[str, float]]]:
    """The ``top`` words of each topic of model ``name``, as {topic: [(word, weight), ...]}.

    For a model trained here, weights are p(word | topic); for any other stored lexicon
    (e.g. an imported topic CSV) they are the lexicon's own weights.
    """
    with ws.connect() as con:
        has = table_exists(con, topics_table(name))
        if has:
            rows = con.execute(
                f'SELECT topic, term, p FROM "{topics_table(name)}" WHERE rank <= ? '
                "ORDER BY topic::INTEGER, rank", [top]).fetchall()
        else:
            lex = load_stored(con, name)
            if lex is None:
                raise InputError(f"no topic model '{name}' in this study; train one with "
                                 "`psyprofile topics train STUDY`.")
            con.register("_lex", lex.entries)
            try:
                rows = con.execute(
                    "SELECT category, term, weight FROM (SELECT *, row_number() OVER "
                    "(PARTITION BY category ORDER BY weight DESC, term) AS r FROM _lex) "
                    "WHERE r <= ? ORDER BY category, r", [top]).fetchall()
            finally:
                con.unregister("_lex")
    out: dict[str, list[tuple[str, float]]] = {}
    for topic, term, w in rows:
        out.setdefault(topic, []).append((term, w))
    return out
