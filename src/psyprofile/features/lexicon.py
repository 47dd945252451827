"""Lexicon features: a lexicon applied to a study's 1gram table, as DLATK's ``--add_lex_table``.

For each group and category, over the 1grams ``w`` of the group that match the category:

* ``value`` = Σ count(w): how many of the group's words are in the category. The
  weights do not enter ``value`` (DLATK stores the plain count here too);
* ``group_norm`` = Σ group_norm(w) × weight(w, category), with group_norm(w) = count(w) /
  the group's 1gram tokens. For a weighted topic lexicon of p(topic|word) this is the
  group's topic probability; for an unweighted lexicon, the share of the group's words in
  the category.

Matching follows DLATK: terms and 1grams are compared lower-cased; a term ending in
``*`` whose stem has at least 3 characters also matches every 1gram beginning with the
stem (``abandon*``: ``abandon``, ``abandoned``); shorter wildcard terms (``a*``, ``*``)
only match that exact token. A 1gram matched by several entries of one category (a word
and a wildcard) counts once, with the largest weight.

Multi-word terms (``sick of``, ``. i hate``: tokens joined by one space, as the n-gram
tables write them) match the group's 2grams and 3grams exactly (no wildcards), read from
the ``2gram``/``3gram`` sets at the same level, which must have been extracted
(:func:`term_lengths` says which a lexicon needs). Their ``group_norm`` is count / the
group's 1gram tokens, so a category's score stays Σ weight × count / words over all its
1–3grams, as the npm ``bigfive`` scorer and DLATK's weighted lexica on 1to3grams compute it.

Constant terms, also as DLATK: a lexicon with ``_intercept`` entries adds each one's weight
to its category's ``group_norm`` in every group (``value`` 0 if no word matched); a
lexicon without them gets one feature ``_intercept`` (value 1, group_norm 1) per group.
Categories no word of a group matches are absent for that group (read as 0 by
:func:`psyprofile.features.store.read_matrix`). On DLATK's own 1gram table of the blog
corpus, the tables for ``nrc_emot``, ``dd_emnlp14_ageGender`` and ``fb2000_cp`` equal
DLATK's row for row (values exactly, group_norm to 1e-13 relative).

DuckDB expands the wildcards and codes words, categories and groups as integers; the sums
are two sparse matrix products (groups × words by words × categories), which for 2,000
topics over 1,000 bloggers take about a second where a SQL join + group-by of the ~34
million (group, word, topic) rows took ten times longer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from psyprofile.errors import PsyprofileError
from psyprofile.features.ngrams import set_name as ng_set_name
from psyprofile.features.store import require_feature_set, write_features
from psyprofile.lexica.load import INTERCEPT, Lexicon, check_name
from psyprofile.lexica.registry import resolve_lexicon
from psyprofile.store.db import quote_ident, set_progress_bar

MIN_WILDCARD_STEM = 3  # DLATK tries prefixes of 3+ characters only

# The (1gram, category, weight) pairs the lexicon gives the study's vocabulary, wildcards
# expanded. Inputs: _lex (term, category, weight) and the 1gram table {src}.
MATCHED_SQL = """
CREATE OR REPLACE TEMP TABLE _matched AS
WITH lex AS (
    SELECT lower(term) AS term, category, max(weight) AS weight
    FROM _lex WHERE term <> '{icpt}' GROUP BY 1, 2
), vocab AS (
    SELECT DISTINCT lower(feature) AS word FROM {src}
), stem_lengths AS (
    -- only prefixes as long as a wildcard's stem can match one: none for most lexica
    SELECT DISTINCT length(term) - 1 AS n FROM lex WHERE term LIKE '%*' AND length(term) > {stem}
), prefixes AS (
    -- wildcards expand over 1grams only: 'abandon*' does not match the 2gram 'abandon ship'
    SELECT word, left(word, n::BIGINT) AS stem FROM vocab JOIN stem_lengths ON length(word) >= n
    WHERE NOT contains(word, ' ')
)
SELECT word, category, max(weight) AS weight FROM (
    SELECT v.word, l.category, l.weight FROM vocab v JOIN lex l ON v.word = l.term
    UNION ALL
    SELECT p.word, l.category, l.weight FROM prefixes p JOIN lex l ON l.term = p.stem || '*'
) GROUP BY 1, 2
"""

def term_lengths(lex: Lexicon) -> list[int]:
    """The n-gram lengths of the lexicon's terms (1 always; 2, 3 for multi-word terms)."""
    terms = pc.unique(lex.entries.column("term")).to_pylist()
    return sorted({1} | {len(t.split()) for t in terms if t != INTERCEPT and t.strip()})


def matching_source(con: Any, lex: Lexicon, source_set: str, level: str) -> str:
    """The relation the lexicon is matched against: ``source_set``'s table for a lexicon of
    single words; for one with multi-word terms, a temp view ``_lexsrc`` of that table's rows
    plus the rows of the ``<n>gram`` sets that are such terms (group_norm: count / the group's
    1gram tokens). Needs ``_lex`` registered.

    The 1gram rows are read in place: copying them, once per lexicon, took most of the
    matching time at message level. Only the few n-gram rows that are terms are copied (to
    a temp table ``_lexgrams``), so the view does not rescan the n-gram tables."""
    src = require_feature_set(con, source_set, level)
    longer = [n for n in term_lengths(lex) if n > 1]
    if not longer:
        return src
    parts = []
    for n in longer:
        try:
            table = require_feature_set(con, ng_set_name(n), level)
        except PsyprofileError:
            raise PsyprofileError(
                f"lexicon '{lex.name}' has {n}-word terms, matched against {n}grams, which "
                f"this study lacks at level {level}: extract the lexicon with "
                f"`psyprofile features STUDY --level {level} --lexicon {lex.name}` (or "
                "extract_features), which counts them too.") from None
        parts.append(
            f"SELECT f.group_id, f.feature, f.value, f.value / g.words AS group_norm "
            f"FROM {quote_ident(table)} f JOIN group_words g ON g.level = ? AND "
            "g.group_id = f.group_id AND g.words > 0 "
            "WHERE lower(f.feature) IN (SELECT lower(term) FROM _lex WHERE contains(term, ' '))")
    con.execute("CREATE OR REPLACE TEMP TABLE _lexgrams AS " + " UNION ALL ".join(parts),
                [level] * len(parts))
    con.execute("CREATE OR REPLACE TEMP VIEW _lexsrc AS SELECT group_id, feature, value, "
                f"group_norm FROM {quote_ident(src)} UNION ALL SELECT * FROM _lexgrams")
    return "_lexsrc"


def _arrays(con: Any, sql: str, params: list[Any] | None = None) -> list[np.ndarray]:
    t = con.sql(sql, params=params).to_arrow_table()
    return [t.column(i).to_numpy(zero_copy_only=False) for i in range(t.num_columns)]


def _sorted_cells(m: sp.spmatrix, n_cols: int) -> tuple[np.ndarray, sp.csr_matrix]:
    """Row-major cell keys (row * n_cols + col), ascending, and the CSR matrix they index."""
    m = m.tocsr()
    m.sort_indices()
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows * n_cols + m.indices, m


def _constants(con: Any, lex: Lexicon) -> tuple[list[str], np.ndarray, float]:
    """DLATK's constants: the categories of the lexicon's ``_intercept`` entries with their
    weights (added to the category's ``group_norm`` in every group, ``value`` 0 where no word
    matched), or, for a lexicon without any, a feature ``_intercept`` with value and
    group_norm 1. Returns (categories, weights, value of a cell only the constant fills)."""
    if not pc.any(pc.equal(lex.entries.column("term"), INTERCEPT)).as_py():
        return [INTERCEPT], np.ones(1), 1.0
    cats, weights = _arrays(con, "SELECT category, max(weight) FROM _lex WHERE term = ? GROUP BY 1",
                             [INTERCEPT])
    return list(cats), weights.astype(np.float64), 0.0


def match_terms(con: Any, src: str) -> None:
    """Fill the temp table ``_matched`` (word, category, weight): the terms of the lexicon
    registered on ``con`` as ``_lex`` that the n-gram table (or view) ``src`` holds, 1grams
    through the wildcard rules (see :data:`MATCHED_SQL`)."""
    con.execute(MATCHED_SQL.format(src=quote_ident(src), icpt=INTERCEPT, stem=MIN_WILDCARD_STEM))


def category_scores(con: Any, src: str, lex: Lexicon) -> tuple[pa.Table, dict[str, int]]:
    """(group_id, feature, value, group_norm) of the categories, sorted by group and
    category, and its counts (``features``, ``groups``, ``rows``), from the n-gram rows in
    table ``src`` and the lexicon's entries registered on ``con`` as ``_lex``.

    The sums are sparse products, the groups × words counts (and group_norms) times the
    words × categories weights, to which the constants are added."""
    match_terms(con, src)
    const_cats, const_weights, const_value = _constants(con, lex)
    con.register("_k", pa.table({"category": pa.array(const_cats, pa.string())}))
    try:
        cats = pa.array(_arrays(con, "SELECT DISTINCT category FROM (SELECT category FROM _matched "
                                     "UNION ALL SELECT category FROM _k) ORDER BY 1")[0], pa.string())
    finally:
        con.unregister("_k")
    words = pa.array(_arrays(con, "SELECT DISTINCT word FROM _matched ORDER BY 1")[0], pa.string())
    groups = pa.array(_arrays(con, f"SELECT DISTINCT group_id FROM {quote_ident(src)} ORDER BY 1")[0], pa.string())
    con.register("_w", pa.table({"word": words, "wi": np.arange(len(words))}))
    con.register("_c", pa.table({"category": cats, "ci": np.arange(len(cats))}))
    con.register("_g", pa.table({"group_id": groups, "gi": np.arange(len(groups))}))
    try:
        gi, wi, count, norm = _arrays(con, f"SELECT gi, wi, value, group_norm FROM {quote_ident(src)} f JOIN _w "
                                           "ON lower(f.feature) = _w.word JOIN _g USING (group_id)")
        mwi, mci, weight = _arrays(con, "SELECT wi, ci, weight FROM _matched JOIN _w USING (word) "
                                        "JOIN _c USING (category)")
    finally:
        for t in ("_w", "_c", "_g"):
            con.unregister(t)
    n_cats = len(cats)
    shape = (len(groups), len(words))
    # duplicate (group, word) cells, e.g. 'Happy' and 'happy', are summed, as DLATK does
    counts = sp.csr_matrix((count.astype(np.float64), (gi, wi)), shape=shape)
    norms = sp.csr_matrix((norm.astype(np.float64), (gi, wi)), shape=shape)
    weights = sp.csr_matrix((weight.astype(np.float64), (mwi, mci)), shape=(len(words), n_cats))
    member = weights.copy()
    member.data[:] = 1.0
    # value > 0 exactly where a group has a word of the category; scipy drops group_norm
    # products that cancel to 0, so group_norm's cells are a subset of value's.
    keys, value = _sorted_cells(counts @ member, n_cats)
    gn_keys, gn = _sorted_cells(norms @ weights, n_cats)
    group_norm = np.zeros(len(keys))
    group_norm[np.searchsorted(keys, gn_keys)] = gn.data
    # The constants' cells (every group × each constant category) go into the sorted cells
    # by position: few, so this is linear where a union of the keys would sort them all.
    ci = pc.index_in(pa.array(const_cats, pa.string()), value_set=cats).to_numpy()
    const_keys = (np.arange(len(groups))[:, None] * n_cats + ci[None, :]).ravel()
    order = np.argsort(const_keys)
    const_keys, const_add = const_keys[order], np.tile(const_weights, len(groups))[order]
    at = np.searchsorted(keys, const_keys)
    inside = at < len(keys)
    new = ~inside
    new[inside] = keys[at[inside]] != const_keys[inside]
    all_keys = np.insert(keys, at[new], const_keys[new])
    values = np.insert(value.data, at[new], const_value)
    group_norm = np.insert(group_norm, at[new], 0.0)
    group_norm[np.searchsorted(all_keys, const_keys)] += const_add
    rows, cols = all_keys // n_cats, all_keys % n_cats
    table = pa.table({"group_id": groups.take(pa.array(rows)), "feature": cats.take(pa.array(cols)),
                      "value": values, "group_norm": group_norm})
    counts_out = {"features": int(np.count_nonzero(np.bincount(cols, minlength=n_cats))),
                  "groups": int(np.count_nonzero(np.diff(rows)) + (len(rows) > 0)),
                  "rows": len(all_keys)}
    return table, counts_out


def extract_lexicon(
    ws: Any,
    lexicon: str | Lexicon,
    level: str = "user",
    source_set: str = "1gram",
    progress: bool = True,
) -> dict[str, int]:
    """Apply ``lexicon`` (a bundled name, a lexicon stored in the study, a file path, or a
    :class:`Lexicon`) to feature set ``source_set`` at ``level`` and store the result as
    feature set ``<lexicon name>`` (table ``feat$<name>$<level>``; one row per group and
    category, see the module docstring for the values). Returns ``{'features', 'groups',
    'rows'}`` of the written set.
    """
    lex = lexicon if isinstance(lexicon, Lexicon) else resolve_lexicon(lexicon, ws)
    check_name(lex.name)
    if lex.name == source_set:
        raise PsyprofileError(f"the lexicon's name '{lex.name}' is that of its source feature "
                              "set; rename the lexicon file.")
    with ws.connect() as con:
        require_feature_set(con, source_set, level)
        set_progress_bar(con, progress)
        con.register("_lex", lex.entries)
        try:
            src = matching_source(con, lex, source_set, level)
            table, counts = category_scores(con, src, lex)
        finally:
            con.unregister("_lex")
        params = {"lexicon": lex.name, "source": lex.source, "weighted": lex.weighted,
                  "source_set": source_set,
                  "categories": pc.count_distinct(lex.entries.column("category")).as_py()}
        out = write_features(con, lex.name, level, table, kind="lexicon", params=params,
                             ordered=True, counts=counts)
    return out
