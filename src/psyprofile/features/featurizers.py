"""Text featurizers: scikit-learn transformers from each user's texts to a feature matrix.

``X`` is a sequence with one entry per user: a text, or a list of texts (that user's posts).
Each featurizer gives an (n_users, n_features) float matrix, row ``i`` for ``X[i]``, and
:meth:`get_feature_names_out`, so that, for instance,
``make_pipeline(LexiconFeaturizer("nrc_emot"), RidgeCV())`` predicts an outcome from texts
and ``cross_val_score`` cross-validates it, vocabulary and all.

The values are those :func:`psyprofile.features.extract.extract_features` stores as
``group_norm`` for a study with these users, computed by the same functions in memory (no
workspace): :func:`~psyprofile.features.extract.process_chunk` tokenizes and counts the
word and character n-grams, the lexicon matching is
:mod:`psyprofile.features.lexicon`'s, and embeddings are the study's word-weighted means of
post vectors. A user's posts never form n-grams across two posts. A user without any text
gets a row of zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from psyprofile.features import chars as ch
from psyprofile.features import ngrams as ng
from psyprofile.features.occurrence import min_groups


def user_posts(X: Any) -> list[list[str]]:
    """``X`` (one entry per user: a str, or a sequence of str) as one list of posts per user."""
    if isinstance(X, str) or not hasattr(X, "__len__") or getattr(X, "ndim", 1) != 1:
        raise ValueError("X must be a sequence with one entry per user (a text, or a list of "
                         "that user's texts), not a single text or a 2-D array")
    users = []
    for i, entry in enumerate(X):
        posts = [entry] if isinstance(entry, str) else entry
        if not isinstance(posts, Sequence | np.ndarray) or not all(isinstance(p, str) for p in posts):
            raise ValueError(f"X[{i}] is a {type(entry).__name__}; give a text or a list of texts")
        users.append(list(posts))
    if not users:
        raise ValueError("X holds no users; give at least one")
    return users


def _gid(i: int) -> str:
    # zero-padded so that the order of group ids is the order of users
    return f"{i:012d}"


def count_tables(users: list[list[str]], ns: tuple[int, ...] = (),
                 chars: tuple[int, int] | None = None) -> tuple[dict[str, pa.Table], np.ndarray]:
    """The feature rows (:data:`~psyprofile.features.store.FEATURE_SCHEMA`, ``group_id`` the
    zero-padded user index) of word n-grams of lengths ``ns`` (sets ``'1gram'``, ...) and of
    character n-grams of lengths ``chars`` (set ``'char2to5'``), and each user's number of
    tokens (n_users,), as the study's text pass counts them."""
    from psyprofile.features.extract import process_chunk

    gs = [_gid(i) for i, posts in enumerate(users) for _ in posts]
    texts = [t for posts in users for t in posts]
    out = process_chunk(gs, texts, [None] * len(texts), ns, False, None, chars)
    words = np.zeros(len(users))
    gw = out["group_words"]
    words[_rows(gw)] = gw.column("words").to_numpy()
    return out["tables"], words


def _matrix(table: pa.Table, n_users: int, names: np.ndarray) -> sp.csr_matrix:
    """(n_users, len(names)) CSR of ``table``'s ``group_norm`` in the columns ``names``;
    features outside ``names`` are left out."""
    idx = pc.index_in(table.column("feature"), value_set=pa.array(names, pa.string()))
    known = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    col = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = _rows(table)
    vals = table.column("group_norm").to_numpy()
    return sp.csr_matrix((vals[known], (rows[known], col[known])), shape=(n_users, len(names)))


def _rows(table: pa.Table) -> np.ndarray:
    """The user index of each row of ``table`` (from its zero-padded ``group_id``)."""
    return pc.cast(table.column("group_id"), pa.int64()).to_numpy(zero_copy_only=False)


def _occurring(table: pa.Table, n_users: int, min_users: float) -> np.ndarray:
    """The features (sorted) of ``table`` used by at least ``min_users`` users: a number of
    users when 1 or more, else a share of the ``n_users``, as the study's occurrence filter."""
    threshold = min_groups(min_users, n_users)
    counts = table.group_by("feature").aggregate([("group_id", "count")])
    keep = pc.greater_equal(counts.column("group_id_count"), threshold)
    return np.sort(np.asarray(counts.column("feature").filter(keep).to_pylist(), dtype=object))


class _Featurizer(TransformerMixin, BaseEstimator):
    """What every featurizer shares: input checks, feature names, tags."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of the output columns, shape (n_features,), dtype object."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)


class _CountFeaturizer(_Featurizer):
    """Word or character n-grams: the vocabulary (with the occurrence filter) is learned in
    :meth:`fit`; values are relative frequencies per length (DLATK's ``group_norm``)."""

    def _tables(self, users: list[list[str]]) -> dict[str, pa.Table]:
        raise NotImplementedError

    def _check(self) -> None:
        if not (isinstance(self.min_users, int | float) and self.min_users > 0):
            raise ValueError(f"min_users={self.min_users!r}: give a number of users (1 or more) "
                             "or a share of them (between 0 and 1)")

    def fit(self, X: Any, y: Any = None) -> _CountFeaturizer:
        """Learn the vocabulary from the texts ``X`` (n_users entries); ``y`` is ignored."""
        self._check()
        self._learn(*self._counted(X))
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        """Relative frequencies, sparse (n_users, n_features) float64."""
        check_is_fitted(self, "feature_names_out_")
        return self._values(*self._counted(X))

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        """:meth:`fit` then :meth:`transform` of the same texts, tokenized and counted once
        (what a pipeline's fit calls; the mixin's default would count them twice)."""
        self._check()
        tables, n_users = self._counted(X)
        self._learn(tables, n_users)
        return self._values(tables, n_users)

    def _counted(self, X: Any) -> tuple[dict[str, pa.Table], int]:
        users = user_posts(X)
        return self._tables(users), len(users)

    def _learn(self, tables: dict[str, pa.Table], n_users: int) -> None:
        self.feature_names_out_ = np.concatenate(
            [np.asarray([], dtype=object), *(_occurring(t, n_users, self.min_users)
                                              for t in tables.values())])

    def _values(self, tables: dict[str, pa.Table], n_users: int) -> sp.csr_matrix:
        parts = [t.select(["group_id", "feature", "group_norm"]) for t in tables.values()]
        table = pa.concat_tables(parts) if parts else None
        if table is None or not len(self.feature_names_out_):
            return sp.csr_matrix((n_users, len(self.feature_names_out_)))
        return _matrix(table, n_users, self.feature_names_out_)


class NgramFeaturizer(_CountFeaturizer):
    """Word n-grams of the lengths ``n`` per user, as the study's ``1gram``.. sets.

    Parameters
    ----------
    n : tuple of int
        N-gram lengths (``(1, 2, 3)`` is the ``1to3gram`` union); each length keeps its own
        relative frequency: count / the user's number of n-grams of that length.
    min_users : float
        Keep the n-grams used by at least this many of the users seen in :meth:`fit` (1 or
        more), or by this share of them (below 1), as the study's occurrence filter.

    Attributes
    ----------
    feature_names_out_ : ndarray of str, shape (n_features,)
        The vocabulary: n-grams (tokens joined by one space), by length then alphabetically.
    """

    def __init__(self, n: tuple[int, ...] = (1,), min_users: float = 1) -> None:
        self.n = n
        self.min_users = min_users

    def _tables(self, users: list[list[str]]) -> dict[str, pa.Table]:
        ns = tuple(sorted(set(self.n)))
        if not ns or not all(isinstance(k, int | np.integer) and k >= 1 for k in ns):
            raise ValueError(f"n={self.n!r}: give n-gram lengths of 1 or more, e.g. (1, 2)")
        tables, _ = count_tables(users, ns)
        return {ng.set_name(k): tables[ng.set_name(k)] for k in ns}


class CharNgramFeaturizer(_CountFeaturizer):
    """Character n-grams of lengths ``n[0]`` to ``n[1]`` inside words, as the study's
    ``char<lo>to<hi>`` set (see :mod:`psyprofile.features.chars`; @-mentions are masked).

    Parameters
    ----------
    n : (int, int)
        Lowest and highest length, inclusive, within 1..6.
    min_users : float
        As for :class:`NgramFeaturizer`.

    Attributes
    ----------
    feature_names_out_ : ndarray of str, shape (n_features,)
        The character n-grams kept in :meth:`fit`, sorted.
    """

    def __init__(self, n: tuple[int, int] = (2, 5), min_users: float = 1) -> None:
        self.n = n
        self.min_users = min_users

    def _tables(self, users: list[list[str]]) -> dict[str, pa.Table]:
        try:
            lengths = ch.checked_lengths(self.n)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"n={self.n!r}: give (low, high) character lengths") from exc
        tables, _ = count_tables(users, (), lengths)
        return tables


class LexiconFeaturizer(_Featurizer):
    """A lexicon's category scores per user, as the study's lexicon feature set.

    Per category: Σ weight × count / the user's words over the matching 1-3grams (DLATK's
    ``group_norm``; for an unweighted lexicon the share of the user's words in the category),
    matched as :mod:`psyprofile.features.lexicon` matches them (lower-cased, wildcards,
    multi-word terms, ``_intercept`` weights added).

    Parameters
    ----------
    lexicon : str
        A bundled lexicon name (``'nrc_emot'``) or a lexicon file path (.csv, .dic,
        ``FILE.db:TABLE``).

    Attributes
    ----------
    lexicon_ : Lexicon
        The lexicon read in :meth:`fit`.
    feature_names_out_ : ndarray of str, shape (n_categories,)
        Its categories, sorted, plus ``'_intercept'`` (1 for every user with words) for a
        lexicon without intercepts, as the study's tables have.
    """

    def __init__(self, lexicon: str = "nrc_emot") -> None:
        self.lexicon = lexicon

    def fit(self, X: Any, y: Any = None) -> LexiconFeaturizer:
        """Read the lexicon and record its categories; ``X`` is only checked, ``y`` ignored."""
        from psyprofile.lexica.load import INTERCEPT
        from psyprofile.lexica.registry import resolve_lexicon

        user_posts(X)
        self.lexicon_ = resolve_lexicon(self.lexicon)
        cats = self.lexicon_.categories
        has_intercepts = pc.any(pc.equal(self.lexicon_.entries.column("term"), INTERCEPT)).as_py()
        self.feature_names_out_ = np.asarray(cats + ([] if has_intercepts else [INTERCEPT]),
                                             dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Category scores, dense (n_users, n_categories) float64."""
        import duckdb

        from psyprofile.features import lexicon as lx

        check_is_fitted(self, "lexicon_")
        users = user_posts(X)
        lex = self.lexicon_
        lengths = tuple(lx.term_lengths(lex))
        tables, words = count_tables(users, lengths)
        src = tables[ng.set_name(1)]
        multi = [t for t in lex.entries.column("term").to_pylist() if " " in t]
        for k in lengths[1:]:
            # multi-word terms count against the user's 1gram tokens, as matching_source does
            t = tables[ng.set_name(k)]
            t = t.filter(pc.is_in(pc.utf8_lower(t.column("feature")),
                                  value_set=pa.array([m.lower() for m in multi], pa.string())))
            norm = t.column("value").to_numpy() / words[_rows(t)]
            src = pa.concat_tables([src, t.set_column(3, "group_norm", pa.array(norm))])
        out = np.zeros((len(users), len(self.feature_names_out_)))
        if not src.num_rows:
            return out
        with duckdb.connect() as con:
            con.register("_lex", lex.entries)
            con.register("_src", src)
            scores, _ = lx.category_scores(con, "_src", lex)
        m = _matrix(scores, len(users), self.feature_names_out_)
        return m.toarray()


class EmbeddingFeaturizer(_Featurizer):
    """Sentence-embedding vectors per user: the mean of the user's post vectors, weighted by
    their numbers of words (``weighting='words'``) or equally (``'none'``), as
    :func:`psyprofile.features.embeddings.extract_embeddings` writes them. Needs the
    ``embeddings`` extra; the embedder is built once per process, never pickled.

    Parameters
    ----------
    model : str
        An embedding model name (``'minilm'``, ``'minilm-static'``, ``'e5-multilingual'``).
    weighting : str
        ``'words'`` or ``'none'``.
    runtime : str or None
        ``minilm``'s runtime (see :data:`psyprofile.features.embeddings.RUNTIMES`).

    Attributes
    ----------
    feature_names_out_ : ndarray of str, shape (dim,)
        ``e000``, ``e001``, ...: the vector's components (cosine space, unit-free).
    """

    def __init__(self, model: str = "minilm", weighting: str = "words",
                 runtime: str | None = None) -> None:
        self.model = model
        self.weighting = weighting
        self.runtime = runtime

    def _embedder(self) -> Any:
        from psyprofile.features import embeddings as E

        # the embedders import their libraries through extras.require: without the
        # 'embeddings' extra this says how to install it
        if self.weighting not in E.WEIGHTINGS:
            raise ValueError(f"weighting={self.weighting!r}; choose one of {', '.join(E.WEIGHTINGS)}")
        return E.shared_embedder(self.model, self.runtime)

    def fit(self, X: Any, y: Any = None) -> EmbeddingFeaturizer:
        """Build (or reuse) the embedder and record its dimension; ``y`` is ignored."""
        from psyprofile.features.embeddings import feature_names

        user_posts(X)
        self.feature_names_out_ = np.asarray(feature_names(self._embedder().dim), dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Mean post vectors, dense (n_users, dim) float64."""
        from psyprofile.features import embeddings as E
        from psyprofile.text.tokenize import tokenize

        check_is_fitted(self, "feature_names_out_")
        users = user_posts(X)
        owner = np.asarray([i for i, posts in enumerate(users) for _ in posts], dtype=np.int64)
        texts = [t for posts in users for t in posts]
        if not texts:
            return np.zeros((len(users), len(self.feature_names_out_)))
        vectors = self._embedder().embed(texts).vectors.astype(np.float64)
        w = (np.maximum([len(tokenize(t)) for t in texts], 1).astype(np.float64)
             if self.weighting == "words" else np.ones(len(texts)))
        return E.weighted_means(owner, len(users), vectors, w)
