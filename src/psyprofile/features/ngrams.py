"""N-gram counts per group, from the tokens of the group's messages.

An n-gram is ``n`` consecutive tokens of one message (n-grams never span two messages),
written with the tokens joined by one space (``"of the"``). Per group and n, ``value`` is
the count and ``group_norm`` the count divided by the group's total number of n-grams of
that n (for 1grams: its number of tokens), as DLATK's ``--add_ngrams`` defines it. The
combined set (``1to3gram``) is the union of the rows of its parts, each keeping its own
``group_norm``, as DLATK's ``--combine_feat_tables`` does.

The counting functions work on one chunk of messages that holds whole groups; the streaming
over the ``messages`` table and the process pool are in :mod:`psyprofile.features.extract`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from psyprofile.features.store import (
    FEATURE_SCHEMA,
    drop_relation,
    register_feature_set,
    table_name,
)
from psyprofile.store.db import one, quote_ident, scalar


def set_name(n: int) -> str:
    """The feature-set name of n-grams of length ``n`` (``'1gram'``)."""
    return f"{n}gram"


def combined_name(ns: Sequence[int]) -> str:
    """The name of the union of several n-gram sets (``'1to3gram'``, or ``'1_3gram'`` for a gap)."""
    ns = sorted(ns)
    if ns == list(range(ns[0], ns[-1] + 1)):
        return f"{ns[0]}to{ns[-1]}gram"
    return "_".join(map(str, ns)) + "gram"


def group_runs(group_ids: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(group_id, start, stop)`` of each run of equal ids in ``group_ids`` (sorted by group)."""
    runs = []
    start = 0
    for i in range(1, len(group_ids) + 1):
        if i == len(group_ids) or group_ids[i] != group_ids[start]:
            runs.append((group_ids[start], start, i))
            start = i
    return runs


def ngram_tables(
    group_ids: Sequence[str],
    tokens: Sequence[list[str]],
    ns: Sequence[int],
    keep: Sequence[bool] | None = None,
) -> dict[int, pa.Table]:
    """N-gram rows of the groups in one chunk, one table per n in ``ns``.

    ``group_ids[i]`` is the group of message ``i`` and ``tokens[i]`` its tokens; messages of a
    group are contiguous. ``keep`` (one flag per group run, in order) drops groups, e.g. those
    below a minimum word count. Each table has :data:`FEATURE_SCHEMA` and is sorted by
    (group_id, feature); groups without any n-gram of that n have no rows.
    """
    runs = group_runs(group_ids)
    msg_group = np.repeat(np.arange(len(runs)), [b - a for _, a, b in runs])
    if keep is not None:
        kept = np.asarray(keep, dtype=bool)[msg_group]
        tokens = [t for t, k in zip(tokens, kept, strict=True) if k]
        msg_group = msg_group[kept]
    lens = np.fromiter(map(len, tokens), np.int64, len(tokens))
    # Tokens become integer ids numbered in sorted order, so sorting id tuples sorts the
    # n-grams as strings; counting is then a numpy unique over (group, ids) keys.
    encoded = pc.dictionary_encode(pa.array(itertools.chain.from_iterable(tokens), pa.string(),
                                            size=int(lens.sum())))
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    words = encoded.dictionary
    order = pc.sort_indices(words).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    ids, words = rank[ids], words.take(pa.array(order))
    tok_group = np.repeat(msg_group, lens)
    msg_end = np.repeat(np.cumsum(lens), lens)
    names = pa.array([g for g, _, _ in runs], pa.string())
    return {n: _count(ids, tok_group, msg_end, n, words, names) for n in ns}


def count_rows(cols: Sequence[np.ndarray], sizes: Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of integer columns ``cols`` (column ``j`` in ``[0, sizes[j])``), in
    lexicographic order, as one array per column, and how often each occurs."""
    if math.prod(sizes) < 2**62:  # one int64 key per row: the fast path
        key = np.zeros(len(cols[0]), np.int64)
        for col, size in zip(cols, sizes, strict=True):
            key = key * size + col
        uniq, counts = np.unique(key, return_counts=True)
        parts = []
        for size in reversed(sizes):
            parts.append(uniq % size)
            uniq = uniq // size
        parts.reverse()
        return parts, counts
    rows, counts = np.unique(np.column_stack(cols), axis=0, return_counts=True)
    return list(rows.T), counts


def window_starts(n_items: int, n: int, segment_end: np.ndarray) -> np.ndarray:
    """Positions where a window of ``n`` consecutive items fits before ``segment_end`` (per
    item, the end of the segment it belongs to), so that no window spans two segments."""
    return np.flatnonzero(np.arange(n_items) + n <= segment_end)


def _count(ids: np.ndarray, tok_group: np.ndarray, msg_end: np.ndarray, n: int,
           words: pa.Array, names: pa.Array) -> pa.Table:
    starts = window_starts(len(ids), n, msg_end)  # n-grams inside one message
    parts, counts = count_rows([tok_group[starts]] + [ids[starts + k] for k in range(n)],
                               [len(names)] + [len(words)] * n)
    group = parts[0]
    grams = [words.take(pa.array(p)) for p in parts[1:]]
    feature = grams[0] if n == 1 else pc.binary_join_element_wise(*grams, " ")
    value = counts.astype(np.float64)
    totals = np.bincount(group, weights=value, minlength=len(names))
    return pa.table([names.take(pa.array(group)), feature, pa.array(value),
                     pa.array(value / totals[group])], schema=FEATURE_SCHEMA)


def write_combined(con: duckdb.DuckDBPyConnection, ns: Sequence[int], level: str,
                   params: dict[str, Any]) -> dict[str, int]:
    """List the union of the n-gram sets of ``ns`` at ``level`` as one more set.

    It is a view over the parts (its rows are theirs, so storing them twice would double the
    writing for nothing); rows come part after part rather than sorted, which
    :func:`~psyprofile.features.store.read_matrix` does not need. N-grams of different n never
    share a name, so its feature count is the sum of the parts'.
    """
    name = combined_name(ns)
    parts = [table_name(set_name(n), level) for n in ns]
    union = " UNION ALL ".join(f"SELECT * FROM {quote_ident(t)}" for t in parts)
    drop_relation(con, table_name(name, level))
    con.execute(f"CREATE VIEW {quote_ident(table_name(name, level))} AS {union}")
    features, rows = one(con, "SELECT sum(n_features), sum(n_rows) FROM feature_sets "
                         f"WHERE level = ? AND name IN ({', '.join('?' * len(ns))})",
                         [level, *(set_name(n) for n in ns)])
    groups = scalar(con, "SELECT count(DISTINCT group_id) FROM ("
                    + " UNION ALL ".join(f"SELECT DISTINCT group_id FROM {quote_ident(t)}"
                                         for t in parts) + ")")
    return register_feature_set(con, name, level, "ngram", params,
                                {"features": int(features), "groups": int(groups), "rows": int(rows)})
