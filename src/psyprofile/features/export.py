"""Feature sets written out for other tools: long (one row per group and feature) or wide
(one row per group, one column per feature, as LIWC's output), each with its codebook.

The wide table's values are the stored ``group_norm`` (for n-grams the relative frequency,
count / the group's 1gram tokens; for lexica and topics the weighted share of words); a
feature a group did not use is 0. Its columns are the group id (named after the level:
``user_id``, ``message_id`` or the group column), ``words`` (the group's 1gram tokens), then
the features in sorted order, named exactly as stored; a feature whose name is one of the
first two columns' is written as ``feature:<name>`` (``words`` is a common 1gram).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.features.store import group_words, read_matrix, require_feature_set
from psyprofile.lexica.registry import stored_citation
from psyprofile.store import codebook as cb
from psyprofile.store.db import one
from psyprofile.store.workspace import Workspace

MAX_WIDE_CELLS = 20_000_000  # groups x features: 160 MB of float64, and pandas copies it

#: per feature-set kind: (unit of group_norm, what a value is)
_KIND_UNITS = {
    "ngram": ("relative frequency (count / the group's 1gram tokens)", "use of the n-gram"),
    "filtered": ("relative frequency (count / the group's 1gram tokens)",
                 "use of the n-gram (occurrence- or PMI-filtered set)"),
    "lexicon": ("weighted share of the group's words", "lexicon category score"),
    "topics": ("weighted share of the group's words", "topic loading (LDA topic)"),
    "embedding": ("embedding dimension (model units)", "mean sentence embedding, one dimension"),
    "style": ("per measure (see the style module)", "style measure"),
    "vader": ("VADER score", "sentiment"),
}


def feature_set_source(con: duckdb.DuckDBPyConnection, name: str, level: str) -> dict[str, str]:
    """What set ``name`` at ``level`` is, for a codebook: ``unit``, ``source`` (set, kind
    and level) and ``citation`` (a lexicon's or topic set's, as stored with it) and
    ``description`` (what one value is)."""
    require_feature_set(con, name, level)
    kind = one(con, "SELECT kind FROM feature_sets WHERE name = ? AND level = ?",
               [name, level])[0]
    citation = stored_citation(con, name) if kind in ("lexicon", "topics") else ""
    unit, what = _KIND_UNITS.get(kind, ("as stored", kind))
    return {"unit": unit, "source": f"feature set {name} ({kind}, {level} level)",
            "citation": citation, "description": what}


def _id_column(level: str) -> str:
    return {"user": "user_id", "message": "message_id"}.get(level, level)


def long_codebook(con: duckdb.DuckDBPyConnection, name: str, level: str) -> dict[str, dict]:
    """Descriptions of the long export's columns (group_id, feature, value, group_norm)."""
    src = feature_set_source(con, name, level)
    return {
        "group_id": {"source": "ingest", "description": f"pseudonymous id of the {level} group"
                     if level in ("user", "message") else f"value of group column {level}"},
        "feature": {"source": src["source"], "citation": src["citation"],
                    "description": "feature name as stored"},
        "value": {"unit": "count (lexica, topics, embeddings, style: the raw score)",
                  "source": src["source"], "citation": src["citation"],
                  "description": f"{src['description']}: raw value"},
        "group_norm": {"unit": src["unit"], "source": src["source"], "citation": src["citation"],
                       "description": f"{src['description']}: normalised per group"},
    }


def wide_features(ws: Workspace, name: str, level: str = "user") -> tuple[pd.DataFrame, dict]:
    """Feature set ``name`` at ``level`` as one row per group (sorted by id) and one column per
    feature (sorted), values the stored ``group_norm``, 0 where a group did not use a
    feature; plus the codebook descriptions of its columns. Raises
    :class:`PsyprofileError` when the table would exceed :data:`MAX_WIDE_CELLS` cells."""
    with ws.connect(read_only=True) as con:
        require_feature_set(con, name, level)
        n_groups, n_features = one(con, "SELECT n_groups, n_features FROM feature_sets WHERE "
                                        "name = ? AND level = ?", [name, level])
        if n_groups * n_features > MAX_WIDE_CELLS:
            raise PsyprofileError(
                f"feature set {name} ({level}): {n_groups:,} groups x {n_features:,} features "
                f"is too wide for one table; export an occurrence-filtered set (`psyprofile "
                f"features STUDY --min-users-pct 0.05` gives {name}_occ0.05), or the long "
                "shape without --wide.")
        m = read_matrix(con, name, level)
        words = group_words(con, level)
        src = feature_set_source(con, name, level)
    id_col = _id_column(level)
    names = [f"feature:{f}" if f in (id_col, "words") else f for f in m.features]
    df = pd.DataFrame(m.X.toarray(), columns=names)
    df.insert(0, "words", pd.array([words.get(g) for g in m.groups], dtype="Int64"))
    df.insert(0, id_col, m.groups)
    book: dict[str, dict[str, Any]] = {
        id_col: {"source": "ingest", "description": f"pseudonymous id of the {level}"
                 if level in ("user", "message") else f"value of group column {level}"},
        "words": {"unit": "tokens", "source": "psyprofile features (tokenizer)",
                  "description": "1gram tokens of the group's posts"},
    }
    for col, feat in zip(names, m.features, strict=True):
        book[col] = {"unit": src["unit"], "source": src["source"], "citation": src["citation"],
                     "description": f"{src['description']}: {feat}; 0 where not used"}
    return df, book


def export_features_wide(ws: Workspace, name: str, level: str, out: str | Path) -> int:
    """Write :func:`wide_features` to ``out`` (.csv or .parquet) and its codebook beside it
    (``<stem>.codebook.csv``); returns the rows (groups) written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise PsyprofileError(f"{out}: give an output file ending in .csv or .parquet.")
    df, book = wide_features(ws, name, level)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(out, index=False)  # the csv writer quotes names holding commas or quotes
    else:
        df.to_parquet(out, index=False)
    cb.write_codebook(out, cb.codebook_frame(list(df.columns), cb.frame_types(df), book))
    return len(df)
