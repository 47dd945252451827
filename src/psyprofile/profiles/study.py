"""``profile_study``: every user's profile, stored in the study (contract C1).

Tables (created here)::

    profile_scores(user_id, family, dimension, value, lo, hi, pct, words, source)
    profile_users(user_id, words, status)      -- 'scored' | 'insufficient_text'
    profile_meta(key, value)                   -- 'spec': the ProfileSpec of the run, as JSON
    profile_norms(dimension, family, source, unit, transform, c, mean, sd, n, reliability,
                  quantiles DOUBLE[])          -- per dimension: the error scale c of the
                                               -- intervals, the raw mean/sd and 101
                                               -- quantiles of the values (reference norms)

Lexicon dimensions are read from the message-level 1gram and lexicon tables, which are
extracted when missing and reused when up to date; VADER scores and message embeddings are
cached per message. ``value`` is in the dimension's unit (:mod:`psyprofile.profiles.spec`),
zero-shot Big Five as z within the study; ``lo, hi`` the 95% interval of
:mod:`psyprofile.profiles.scoring`; ``pct`` the percentile among the study's scored users.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.profiles.scoring import (
    Z95,
    Scored,
    percentiles,
    score_source,
    split_half_stats,
    transform,
)
from psyprofile.profiles.sources import LexiconScores, Messages, Source, VaderScores, load_messages
from psyprofile.profiles.spec import (
    TRAITS,
    Dimension,
    ProfileSpec,
    default_spec,
    with_big5,
)
from psyprofile.store.workspace import Workspace

_DDL = """
CREATE TABLE IF NOT EXISTS profile_scores (user_id VARCHAR, family VARCHAR, dimension VARCHAR,
    value DOUBLE, lo DOUBLE, hi DOUBLE, pct DOUBLE, words BIGINT, source VARCHAR);
CREATE TABLE IF NOT EXISTS profile_users (user_id VARCHAR, words BIGINT, status VARCHAR);
CREATE TABLE IF NOT EXISTS profile_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS profile_norms (dimension VARCHAR, family VARCHAR, source VARCHAR,
    unit VARCHAR, transform VARCHAR, c DOUBLE, mean DOUBLE, sd DOUBLE, n BIGINT,
    reliability DOUBLE, quantiles DOUBLE[]);
"""
SCORE_COLUMNS = ["user_id", "family", "dimension", "value", "lo", "hi", "pct", "words", "source"]


@dataclass
class ProfileReport:
    """What :func:`profile_study` did."""

    scored: int
    insufficient_text: int
    min_words: int
    families: dict[str, int]  # family -> dimensions scored
    sources: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        fam = ", ".join(f"{f} {n}" for f, n in self.families.items())
        lines = [f"profiled {self.scored:,} users; {self.insufficient_text:,} with fewer than "
                 f"{self.min_words:,} words listed as insufficient text ({self.seconds:.1f} s)",
                 f"  dimensions per family: {fam}",
                 f"  sources: {', '.join(self.sources)}"]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


@dataclass
class Prepared:
    """The study's messages and the sources of a spec, ready to score."""

    msgs: Messages
    sources: list[Source]


def lexicon_meta(ws: Workspace | None, spec: ProfileSpec) -> list[tuple[str, dict[str, float]]]:
    """(feature set name, category -> intercept) of each lexicon of ``spec``, resolved in
    ``ws`` (None: outside any study); an error if a lexicon lacks a category of ``spec``."""
    from psyprofile.lexica.load import INTERCEPT
    from psyprofile.lexica.registry import resolve_lexicon

    out = []
    for s in spec.lexica:
        lex = resolve_lexicon(s.ref, ws)
        e = lex.entries.to_pydict()
        icpt = {c: w for t, c, w in zip(e["term"], e["category"], e["weight"], strict=True)
                if t == INTERCEPT}
        missing = [d.category for d in s.dimensions if d.category not in lex.categories]
        if missing:
            raise PsyprofileError(f"lexicon {s.ref} has no categories {', '.join(missing)}; "
                                  "the profile needs them.")
        out.append((lex.name, icpt))
    return out


def prepare(ws: Workspace, spec: ProfileSpec, progress: bool = True) -> Prepared:
    """Extract what is missing (message-level 1grams and lexica, VADER, embeddings) and build
    the sources of ``spec`` over the study's messages."""
    from psyprofile.features.extract import extract_features

    with ws.connect() as con:
        if not con.execute("SELECT 1 FROM messages LIMIT 1").fetchall():
            raise PsyprofileError(f"{ws.path}: the study holds no posts; ingest some with "
                                  "`psyprofile ingest STUDY FILE`.")
    meta = lexicon_meta(ws, spec)
    extract_features(ws, level="message", ngrams=(1,), lexica=[s.ref for s in spec.lexica],
                     progress=progress)
    with ws.connect() as con:
        msgs = load_messages(con)
        sources: list[Source] = [LexiconScores.from_study(con, msgs, s, name, icpt)
                                 for s, (name, icpt) in zip(spec.lexica, meta, strict=True)]
        if spec.vader:
            sources.append(VaderScores.from_study(con, msgs, progress))
    if spec.big5 == "zeroshot":
        from psyprofile.profiles.zeroshot import zeroshot_source

        sources.append(zeroshot_source(ws, msgs, spec, progress))
    return Prepared(msgs, sources)


def _resolve_min_words(ws: Workspace, min_words: int | None) -> int:
    mw = int(ws.config["min_words"] if min_words is None else min_words)
    if mw < 0:
        raise PsyprofileError(f"--min-words must be 0 or more (got {mw}).")
    return mw


def is_zeroshot(source_id: str) -> bool:
    return source_id.startswith("zeroshot:")


def values_with_interval(raw: np.ndarray, words: np.ndarray, c: float, d: Dimension,
                         z: tuple[float, float] | None) -> tuple[np.ndarray, ...]:
    """(value, lo, hi) from raw scores resting on ``words`` words, with error scale ``c``:
    standardised by ``z`` = (mean, sd) when given, else through the dimension's transform."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = c / np.sqrt(words)
    trio = (raw, raw - Z95 * sigma, raw + Z95 * sigma)
    if z is not None:
        return tuple((x - z[0]) / z[1] for x in trio)
    return tuple(transform(x, d.transform) for x in trio)


def source_rows(sc: Scored, users: list[str], keep: np.ndarray) -> tuple[pd.DataFrame, list[dict]]:
    """Long score rows of one source for the kept users, and its norms rows."""
    rows, norms = [], []
    src = sc.source
    for j, d in enumerate(src.dimensions):
        raw, words = sc.raw[keep, j], sc.words[keep]
        fin_raw = raw[np.isfinite(raw)]
        mean = float(fin_raw.mean()) if len(fin_raw) else np.nan
        sd = float(fin_raw.std(ddof=1)) if len(fin_raw) > 1 else np.nan
        z = (mean, sd) if is_zeroshot(src.source_id) else None
        value, lo, hi = values_with_interval(raw, words, float(sc.c[j]), d, z)
        rel = split_half_stats(sc.halves[keep, 0, j], sc.halves[keep, 1, j], n_boot=0)[2]
        rows.append(pd.DataFrame({
            "user_id": np.asarray(users)[keep], "family": d.family, "dimension": d.name,
            "value": value, "lo": lo, "hi": hi, "pct": percentiles(value),
            "words": np.round(words).astype(np.int64), "source": src.source_id}))
        fin = value[np.isfinite(value)]
        norms.append({"dimension": d.name, "family": d.family, "source": src.source_id,
                      "unit": d.unit, "transform": d.transform, "c": float(sc.c[j]),
                      "mean": mean, "sd": sd, "n": int(len(fin)), "reliability": rel,
                      "quantiles": np.quantile(fin, np.linspace(0, 1, 101)).tolist() if len(fin) else []})
    return pd.concat(rows, ignore_index=True), norms


def model_dimension(saved) -> str:
    """The Big Five trait a saved model predicts (its outcome named after the trait)."""
    outcome = saved.spec["outcome"]
    dim = next((t for t in TRAITS if outcome == t or outcome.endswith("_" + t)), None)
    if dim is None:
        raise PsyprofileError(
            f"--big5 takes models of Big Five traits (outcome named after a trait, e.g. "
            f"ipip50_extraversion); model '{saved.name}' predicts '{outcome}'. Use "
            "`psyprofile predict` for other outcomes.")
    return dim


def _model_rows(ws: Workspace, ref: str, min_words: int, keep_users: set[str]) -> pd.DataFrame:
    """Scores of a saved Big Five model (``psyprofile train``) applied with ``models.predict``;
    its feature sets are extracted first when they are 1grams or lexica the study lacks."""
    from psyprofile.features.extract import extract_features
    from psyprofile.features.store import list_feature_sets
    from psyprofile.lexica.registry import BUNDLED
    from psyprofile.models.persist import load_model
    from psyprofile.models.predict import predict

    saved = load_model(ref, ws)
    dim = model_dimension(saved)
    with ws.connect() as con:
        have = {s["name"] for s in list_feature_sets(con) if s["level"] == "user"}
    need = [s["name"] for s in saved.spec["feature_sets"] if s["name"] not in have]
    lexica = [s for s in need if s in BUNDLED]
    if "1gram" in need or lexica:
        extract_features(ws, level="user", ngrams=(1,), lexica=lexica, progress=False)
    predict(ws, saved, min_words=min_words)
    with ws.connect() as con:
        df = con.execute("SELECT user_id, value, lo, hi, words FROM predictions WHERE model = ?",
                         [saved.name]).df()
    df = df[df["user_id"].isin(keep_users)].copy()
    df["family"], df["dimension"], df["source"] = "big5", dim, f"model:{saved.name}"
    df["pct"] = percentiles(df["value"].to_numpy(dtype=float))
    return df[SCORE_COLUMNS]


def profile_study(ws: Workspace, *, min_words: int | None = None, big5: str = "zeroshot",
                  progress: bool = True, spec: ProfileSpec | None = None) -> ProfileReport:
    """Score every user of ``ws`` with at least ``min_words`` words (default: the study's
    ``min_words``) on every dimension of ``spec`` (default: :func:`default_spec` with
    ``big5``: 'zeroshot' or saved model refs joined by ','), replacing the profile tables."""
    t0 = time.perf_counter()
    if spec is None:
        spec = default_spec(big5)
    elif big5 != "zeroshot":
        spec = with_big5(spec, big5)
    mw = _resolve_min_words(ws, min_words)
    prep = prepare(ws, spec, progress)
    users = prep.msgs.users
    uw = prep.msgs.user_words()
    keep = uw >= mw
    parts, norms, notes = [], [], []
    if keep.any():
        for src in prep.sources:
            rows, nrm = source_rows(score_source(src, prep.msgs, keep), users, keep)
            parts.append(rows)
            norms += nrm
        kept = set(np.asarray(users)[keep].tolist())
        for ref in spec.big5_models():
            parts.append(_model_rows(ws, ref, mw, kept))
    else:
        notes.append(f"no user has {mw:,} or more words; lower --min-words to score anyone")
    scores = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SCORE_COLUMNS)
    status = pd.DataFrame({"user_id": users, "words": np.round(uw).astype(np.int64),
                           "status": np.where(keep, "scored", "insufficient_text")})
    write_profile(ws, scores, status, pd.DataFrame(norms), spec)
    fams = scores.groupby("family")["dimension"].nunique().to_dict() if len(scores) else {}
    return ProfileReport(int(keep.sum()), int((~keep).sum()), mw, fams, spec.sources(),
                         time.perf_counter() - t0, notes)


def write_profile(ws: Workspace, scores: pd.DataFrame, status: pd.DataFrame,
                  norms: pd.DataFrame, spec: ProfileSpec) -> None:
    """Replace the profile tables with these rows."""
    from psyprofile.profiles.spec import spec_to_json

    with ws.connect() as con:
        con.execute(_DDL)
        con.execute("BEGIN")
        con.execute("INSERT OR REPLACE INTO profile_meta VALUES ('spec', ?)", [spec_to_json(spec)])
        for table, df in (("profile_scores", scores), ("profile_users", status),
                          ("profile_norms", norms)):
            con.execute(f"DELETE FROM {table}")
            if len(df):
                con.register("_in", df)
                cols = ", ".join(df.columns)
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _in")
                con.unregister("_in")
        con.execute("COMMIT")


def stored_spec(ws: Workspace) -> ProfileSpec:
    """The spec of the study's last profile run (:func:`default_spec` if there is none)."""
    from psyprofile.profiles.spec import spec_from_json
    from psyprofile.store.db import scalar, table_exists

    with ws.connect() as con:
        text = scalar(con, "SELECT value FROM profile_meta WHERE key = 'spec'") \
            if table_exists(con, "profile_meta") else None
    return spec_from_json(text) if text else default_spec()


def read_scores(ws: Workspace) -> pd.DataFrame:
    """The stored ``profile_scores`` (a clear error if ``profile`` has not run)."""
    from psyprofile.store.db import table_exists

    with ws.connect() as con:
        if not table_exists(con, "profile_scores"):
            raise PsyprofileError(f"{ws.path}: no profiles yet; run `psyprofile profile {ws.path}`.")
        return con.execute(f"SELECT {', '.join(SCORE_COLUMNS)} FROM profile_scores").df()
