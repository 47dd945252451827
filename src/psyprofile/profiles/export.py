"""Profiles as one row per user, for ``psyprofile profile STUDY --out FILE``, with a codebook.

Columns: ``user_id`` (pseudonymous), ``words``, ``status`` ('scored', 'insufficient_text'
or 'unsupported_language'), ``languages`` (the user's top languages with their shares of
words), ``other_language_share``, then per dimension ``<dimension>``, ``<dimension>_lo``,
``<dimension>_hi`` and ``<dimension>_pct`` (empty for users not scored; a dimension two
sources give is named after both: :func:`column_names`), and per lexicon
source ``<source>_coverage`` (the share of the user's words the lexicon matched).

Beside ``FILE`` goes ``<stem>.codebook.csv`` (:func:`codebook`, written as every export's
codebook is, :mod:`psyprofile.store.codebook`): per column its type, unit, source, the
source's citation and its meaning, then its family, dimension, the reference sample of its
percentiles, the languages it was built for, its status and its convergent evidence, read
from the one evidence table (:mod:`psyprofile.profiles.evidence`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.profiles.study import read_scores, read_users
from psyprofile.store import codebook as cb
from psyprofile.store.workspace import Workspace

#: what a profile codebook adds to :data:`psyprofile.store.codebook.CODEBOOK_COLUMNS`
PROFILE_COLUMNS = ["family", "dimension", "reference", "languages", "status", "evidence"]
_USER_COLUMNS = {
    "user_id": "pseudonymous user id (keyed hash)",
    "words": "1gram tokens of the user's posts",
    "status": "scored | insufficient_text (fewer than --min-words) | unsupported_language "
              "(most words in languages the sources were not built for)",
    "languages": "the user's top languages with their shares of words (messages.lang)",
    "other_language_share": "share of the user's words in languages none of the sources was "
                            "built for",
    "unsupported_sources": "the sources (space separated) not built for the user's languages, "
                           "which so gave them no score (each source's languages are in its "
                           "columns' languages field)",
}


def column_names(scores: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The export column of each (dimension, source): the dimension's name, or, where two
    sources give the same dimension (``--big5 wwbp,zeroshot``), the name with the source's
    kind appended (``openness_wwbp``, ``openness_zeroshot``, ``openness_<model>``)."""
    pairs = list(dict.fromkeys(zip(scores["dimension"], scores["source"], strict=True)))
    shared = pd.Series([d for d, _ in pairs]).value_counts()
    kind = {"wwbp_big5": "wwbp"}

    def short(src: str) -> str:
        return kind.get(src) or src.split(":")[0 if src.startswith("zeroshot") else -1]

    return {(d, src): d if shared[d] == 1 else f"{d}_{short(src)}" for d, src in pairs}


def wide_profiles(ws: Workspace, run: int | None = None) -> pd.DataFrame:
    """One row per user of profile run ``run`` (default the latest; sorted by user id)."""
    return _wide(read_scores(ws, run), read_users(ws, run))


def _wide(scores: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    names = column_names(scores)
    scores = scores.assign(column=[names[k] for k in zip(scores["dimension"], scores["source"],
                                                          strict=True)])
    wide = scores.pivot_table(index="user_id", columns="column",
                              values=["value", "lo", "hi", "pct"], aggfunc="first", dropna=False)
    cols = {}
    for d in names.values():
        for part, suffix in (("value", ""), ("lo", "_lo"), ("hi", "_hi"), ("pct", "_pct")):
            cols[d + suffix] = wide[(part, d)] if (part, d) in wide.columns else pd.Series(dtype=float)
    cov = scores.dropna(subset=["coverage"]).drop_duplicates(["user_id", "source"])
    for src in dict.fromkeys(cov["source"]):
        cols[f"{src}_coverage"] = cov[cov["source"] == src].set_index("user_id")["coverage"]
    out = pd.DataFrame(cols)
    users["unsupported_sources"] = [" ".join(s) or None if s is not None else None
                                    for s in users["unsupported_sources"]]
    return users.merge(out.reset_index(names="user_id"), on="user_id", how="left")


def codebook(ws: Workspace, run: int | None = None) -> dict[str, dict[str, Any]]:
    """Descriptions of the columns of :func:`wide_profiles` (column -> codebook fields:
    those of :data:`psyprofile.store.codebook.CODEBOOK_COLUMNS` and :data:`PROFILE_COLUMNS`)."""
    return _codebook(read_scores(ws, run))


def _codebook(scores: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """:func:`codebook` of ``scores`` (:func:`read_scores`, with each score's unit and evidence)."""
    rows = [{"column": c, "description": m} for c, m in _USER_COLUMNS.items()]
    names = column_names(scores)
    dims = scores.drop_duplicates(["dimension", "source"])
    for r in dims.itertuples():
        col = names[(r.dimension, r.source)]
        base = {"family": r.family, "dimension": r.dimension, "source": r.source,
                "reference": r.reference, "citation": r.citation, "languages": r.languages,
                "status": r.source_status, "evidence": r.evidence}
        unit = r.unit
        for suffix, meaning, u in (
                ("", f"{r.dimension} score", unit),
                ("_lo", "lower end of its 95% interval (text sampling error)", unit),
                ("_hi", "upper end of its 95% interval (text sampling error)", unit),
                ("_pct", "percentile in the reference sample", "percentile, 0..100")):
            rows.append({**base, "column": col + suffix, "description": meaning, "unit": u})
    for src in dict.fromkeys(scores.dropna(subset=["coverage"])["source"]):
        r = scores.loc[scores["source"] == src].iloc[0]  # its evidence, as read_scores gave it
        rows.append({"column": f"{src}_coverage", "family": r.family, "source": src,
                     "description": f"share of the user's words the {src} lexicon matched (as "
                                "LIWC's Dic; multi-word terms: occurrences per word)",
                     "unit": "share of words, 0..1", "citation": r.citation,
                     "languages": r.languages, "status": r.source_status})
    return {r["column"]: {k: ("" if v is None or v != v else v) for k, v in r.items()}
            for r in rows}


def export_profiles(ws: Workspace, path: str | Path, run: int | None = None) -> int:
    """Write :func:`wide_profiles` to ``path`` (.csv or .parquet) and its :func:`codebook`
    beside it (:func:`psyprofile.store.codebook.codebook_path`); returns the rows written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise PsyprofileError(f"{path}: --out takes a .csv or .parquet file name.")
    scores = read_scores(ws, run)  # once, for the table and its codebook
    df = _wide(scores, read_users(ws, run))
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    book = cb.codebook_frame(list(df.columns), cb.frame_types(df), _codebook(scores),
                             extra=PROFILE_COLUMNS)
    cb.write_codebook(path, book)
    return len(df)
