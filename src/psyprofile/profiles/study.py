"""``profile_study``: every user's profile, stored in the study as one *run* (contract C1).

Tables (migration 4 of :mod:`psyprofile.store.schema`)::

    profile_runs(run_id, created_at, sources, spec, min_words, reference)
    profile_run_scores(run_id, user_id, family, dimension, value, lo, hi, pct, words, source,
                       reference, coverage)
    profile_run_users(run_id, user_id, words, status, languages, other_language_share,
                      unsupported_sources VARCHAR[])   -- migration 9
        -- status: 'scored' | 'insufficient_text' | 'unsupported_language'
        -- unsupported_sources: the sources not built for the user's languages (no row there)
    profile_run_norms(run_id, dimension, family, source, unit, transform, c, mean, sd, n,
                      reliability, quantiles DOUBLE[])   -- the study's own norms of the run
    profile_scores, profile_users, profile_norms: views of the latest run

A second run never overwrites the first: readers take the latest run unless given ``run``.
Lexicon dimensions are read from the message-level 1–3gram and lexicon tables, which are
extracted when missing and reused when up to date; VADER scores and message embeddings are
cached per message. ``value`` is in the dimension's unit (:mod:`psyprofile.profiles.spec`);
``lo, hi`` the 95% interval of :mod:`psyprofile.profiles.scoring`; ``pct`` the percentile in
the *reference sample* named in ``reference``: by default the 1,000 bloggers of the DLATK
tutorial corpus (``norms_blogs.json``, written by ``bench/profiles.py``) wherever it has
norms for the dimension, else (or with ``reference='study'``) the study's scored users.
Zero-shot Big Five is a z score against the same reference. ``coverage`` is the share of
the user's words the source's lexicon matched (for multi-word terms: term occurrences per
word). A source scores only users writing mostly in its languages; users no source
supports get the status ``unsupported_language`` and no score
(:mod:`psyprofile.profiles.language`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

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
    DEFAULT_BIG5,
    TRAITS,
    Dimension,
    ProfileSpec,
    default_spec,
    with_big5,
)
from psyprofile.store.workspace import Workspace

SCORE_COLUMNS = ["user_id", "family", "dimension", "value", "lo", "hi", "pct", "words", "source",
                 "reference", "coverage"]
USER_COLUMNS = ["user_id", "words", "status", "languages", "other_language_share",
                "unsupported_sources"]
NORM_COLUMNS = ["dimension", "family", "source", "unit", "transform", "c", "mean", "sd", "n",
                "reliability", "quantiles"]
REFERENCES = ("blogs", "study")
MIN_USERS_OWN_SCALE = 30  # fewer scored users: intervals use the reference's error scale


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
    unsupported_language: int = 0
    run_id: int = 0
    references: list[str] = field(default_factory=list)  # the samples percentiles refer to

    def summary(self) -> str:
        fam = ", ".join(f"{f} {n}" for f, n in self.families.items())
        lines = [f"profile run {self.run_id}: profiled {self.scored:,} users; "
                 f"{self.insufficient_text:,} with fewer than {self.min_words:,} words listed as "
                 f"insufficient text; {self.unsupported_language:,} writing mostly in languages "
                 f"the sources were not built for listed as unsupported language "
                 f"({self.seconds:.1f} s)",
                 f"  dimensions per family: {fam}",
                 f"  sources: {', '.join(self.sources)}",
                 f"  percentiles against: {'; '.join(self.references) or '-'}"]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


@dataclass
class Prepared:
    """The study's messages and the sources of a spec, ready to score."""

    msgs: Messages
    sources: list[Source]


def lexicon_meta(ws: Workspace | None, spec: ProfileSpec) -> list[tuple[Any, dict[str, float]]]:
    """(lexicon, category -> intercept) of each lexicon of ``spec``, resolved in ``ws``
    (None: outside any study); an error if a lexicon lacks a category of ``spec``."""
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
        out.append((lex, icpt))
    return out


def prepare(ws: Workspace, spec: ProfileSpec, progress: bool = True) -> Prepared:
    """Extract what is missing (message-level 1–3grams and lexica, VADER, embeddings) and
    build the sources of ``spec`` over the study's messages."""
    from psyprofile.features.extract import FeatureOptions, extract_features

    with ws.connect() as con:
        if not con.execute("SELECT 1 FROM messages LIMIT 1").fetchall():
            raise PsyprofileError(f"{ws.path}: the study holds no posts; ingest some with "
                                  "`psyprofile ingest STUDY FILE`.")
    meta = lexicon_meta(ws, spec)
    extract_features(ws, FeatureOptions(level="message", ngrams=(1,),
                                        lexica=[s.ref for s in spec.lexica]), progress=progress)
    with ws.connect() as con:
        msgs = load_messages(con)
        sources: list[Source] = [LexiconScores.from_study(con, msgs, s, lex, icpt)
                                 for s, (lex, icpt) in zip(spec.lexica, meta, strict=True)]
        if spec.vader:
            sources.append(VaderScores.from_study(con, msgs, progress))
    if spec.zeroshot:
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


def reference_pct(values: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """Percentile (0..100) of each value among a reference sample given by its 101
    quantiles (linear between them; NaN stays NaN)."""
    out = np.full(len(values), np.nan)
    ok = np.isfinite(values)
    if quantiles and ok.any():
        out[ok] = np.interp(values[ok], quantiles, np.linspace(0, 100, len(quantiles)))
    return out


@dataclass(frozen=True)
class Reference:
    """Reference norms to take percentiles (and zero-shot z) against: ``norms`` as
    :func:`psyprofile.profiles.texts.load_norms` reads them; ``sources`` those they cover
    (None: all; bundled norms do not cover lexica read from files)."""

    norms: dict[str, Any]
    sources: frozenset[str] | None = None

    def get(self, d: Dimension, source_id: str) -> dict | None:
        """The reference norms of a dimension, if they exist and are in its unit."""
        if self.sources is not None and source_id not in self.sources:
            return None
        nrm = self.norms["dimensions"].get((d.name, source_id))
        if nrm is None or nrm.get("unit") != d.unit or not nrm.get("quantiles"):
            return None  # norms of a dimension scored otherwise then (an older unit)
        return nrm

    def label(self, nrm: dict) -> str:
        return nrm.get("reference") or self.norms.get("reference") or "reference norms"


def reference_for(spec: ProfileSpec, reference: str = "blogs") -> Reference | None:
    """The :class:`Reference` of ``spec``: its norms file (covering every source) or the
    bundled blog norms (covering the bundled sources); None for ``reference='study'``."""
    from psyprofile.profiles.texts import load_norms

    if reference not in REFERENCES:
        raise PsyprofileError(f"--reference takes one of {', '.join(REFERENCES)} (got "
                              f"'{reference}').")
    if reference == "study":
        return None
    if spec.norms:
        return Reference(load_norms(spec.norms))
    bundled = [s.lexicon for s in spec.lexica if not s.path] + ["vader", spec.zeroshot_source()]
    return Reference(load_norms(None), frozenset(bundled))


def source_rows(sc: Scored, users: list[str], keep: np.ndarray,
                ref: Reference | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Long score rows of one source for the kept users (percentiles against ``ref`` where
    it has norms, else within the study), and the study's own norms rows."""
    rows, norms = [], []
    src = sc.source
    n_kept = int(keep.sum())
    for j, d in enumerate(src.dimensions):
        raw, words = sc.raw[keep, j], sc.words[keep]
        fin_raw = raw[np.isfinite(raw)]
        mean = float(fin_raw.mean()) if len(fin_raw) else np.nan
        sd = float(fin_raw.std(ddof=1)) if len(fin_raw) > 1 else np.nan
        nrm = ref.get(d, src.source_id) if ref else None
        z = None
        if is_zeroshot(src.source_id):
            z = (nrm["mean"], nrm["sd"]) if nrm else (mean, sd)
        # a few users' split halves give a noisy error scale: take the reference's then
        c = nrm["c"] if nrm and n_kept < MIN_USERS_OWN_SCALE else float(sc.c[j])
        value, lo, hi = values_with_interval(raw, words, c, d, z)
        if nrm:
            pct, label = reference_pct(value, nrm["quantiles"]), ref.label(nrm)
        else:
            pct, label = percentiles(value), f"this study ({n_kept:,} scored users)"
        rel = split_half_stats(sc.halves[keep, 0, j], sc.halves[keep, 1, j], n_boot=0)[2]
        cov = sc.coverage[keep] if sc.coverage is not None else np.full(n_kept, np.nan)
        rows.append(pd.DataFrame({
            "user_id": np.asarray(users)[keep], "family": d.family, "dimension": d.name,
            "value": value, "lo": lo, "hi": hi, "pct": pct,
            "words": np.round(words).astype(np.int64), "source": src.source_id,
            "reference": label, "coverage": cov}))
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


def _model_rows(ws: Workspace, saved, min_words: int, keep_users: set[str]) -> pd.DataFrame:
    """Scores of a saved Big Five model (``psyprofile train``) applied with ``models.predict``;
    its feature sets are extracted first when they are 1grams or lexica the study lacks."""
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.features.store import list_feature_sets
    from psyprofile.lexica.registry import BUNDLED
    from psyprofile.models.predict import predict, read_predictions

    dim = model_dimension(saved)
    with ws.connect() as con:
        have = {s["name"] for s in list_feature_sets(con) if s["level"] == "user"}
    need = [s["name"] for s in saved.spec["feature_sets"] if s["name"] not in have]
    lexica = [s for s in need if s in BUNDLED]
    if "1gram" in need or lexica:
        extract_features(ws, FeatureOptions(level="user", ngrams=(1,), lexica=lexica),
                         progress=False)
    predict(ws, saved, min_words=min_words)
    with ws.connect() as con:
        df = read_predictions(con, saved.name, saved.digest)
    df = df[df["user_id"].isin(keep_users)].copy()
    df["family"], df["dimension"], df["source"] = "big5", dim, f"model:{saved.name}"
    df["pct"] = percentiles(df["value"].to_numpy(dtype=float))
    df["reference"], df["coverage"] = f"this study ({len(df):,} scored users)", np.nan
    return df[SCORE_COLUMNS]


def user_status(words: np.ndarray, min_words: int, no_source: np.ndarray) -> np.ndarray:
    """Per user: 'unsupported_language' (``no_source``: no source supports their languages),
    else 'insufficient_text' (fewer than ``min_words`` words), else 'scored'."""
    return np.select([no_source, words < min_words],
                     ["unsupported_language", "insufficient_text"], "scored")


def profile_study(ws: Workspace, *, min_words: int | None = None, big5: str | None = None,
                  progress: bool = True, spec: ProfileSpec | None = None,
                  reference: str = "blogs") -> ProfileReport:
    """Score every user of ``ws`` with at least ``min_words`` words (default: the study's
    ``min_words``) who writes mostly in the sources' languages, on every dimension of
    ``spec`` (default: :func:`default_spec`; ``big5`` replaces its Big Five sources: 'wwbp',
    'zeroshot' or saved model refs, joined by ','), as a new profile run. Percentiles
    against ``reference``: 'blogs' (the bundled norms, where they exist) or 'study'."""
    from psyprofile.models.card import supported_languages
    from psyprofile.models.persist import load_model
    from psyprofile.profiles.language import language_guard

    t0 = time.perf_counter()
    if spec is None:
        spec = default_spec(big5 or DEFAULT_BIG5)
    elif big5 is not None:
        spec = with_big5(spec, big5)
    mw = _resolve_min_words(ws, min_words)
    ref = reference_for(spec, reference)
    prep = prepare(ws, spec, progress)
    users = prep.msgs.users
    uw = prep.msgs.user_words()
    models = {m: load_model(m, ws) for m in spec.big5_models()}
    guard = language_guard(prep.msgs, spec.sources(),
                           {f"model:{m}": supported_languages(saved.spec) for m, saved in models.items()})
    status = user_status(uw, mw, guard.no_source())
    keep = status == "scored"
    parts, norms, notes = [], [], []
    if keep.any():
        for src in prep.sources:  # each source scores the users writing in its languages
            keep_s = keep & guard.supports(src.source_id)
            if keep_s.any():
                rows, nrm = source_rows(score_source(src, prep.msgs, keep_s), users, keep_s, ref)
                parts.append(rows)
                norms += nrm
        for m, saved in models.items():
            kept = set(np.asarray(users)[keep & guard.supports(f"model:{m}")].tolist())
            parts.append(_model_rows(ws, saved, mw, kept))
    else:
        notes.append(f"no user has {mw:,} or more words in the sources' languages; lower "
                     "--min-words to score anyone")
    unsupported = guard.unsupported_sources()
    partly = keep & np.array([bool(u) for u in unsupported], dtype=bool)
    if partly.any():
        notes.append(f"{int(partly.sum()):,} scored users write mostly in languages some sources "
                     "were not built for; those sources give them no score (their "
                     "unsupported_sources in profile_users)")
    scores = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SCORE_COLUMNS)
    users_df = pd.DataFrame({"user_id": users, "words": np.round(uw).astype(np.int64),
                             "status": status, "languages": guard.mix,
                             "other_language_share": guard.other,
                             "unsupported_sources": unsupported})
    run_id = write_profile(ws, scores, users_df, pd.DataFrame(norms, columns=NORM_COLUMNS), spec,
                           mw, reference)
    fams = scores.groupby("family")["dimension"].nunique().to_dict() if len(scores) else {}
    refs = sorted(scores["reference"].unique().tolist()) if len(scores) else []
    return ProfileReport(int(keep.sum()), int((status == "insufficient_text").sum()), mw, fams,
                         spec.sources(), time.perf_counter() - t0, notes,
                         int((status == "unsupported_language").sum()), run_id, refs)


def write_profile(ws: Workspace, scores: pd.DataFrame, users: pd.DataFrame,
                  norms: pd.DataFrame, spec: ProfileSpec, min_words: int = 0,
                  reference: str = "blogs") -> int:
    """Store these rows as a new profile run (earlier runs are kept); returns its run id."""
    from psyprofile.profiles.spec import spec_to_json
    from psyprofile.store.db import quote_ident, scalar

    with ws.connect() as con:
        con.execute("BEGIN")
        run_id = int(scalar(con, "SELECT coalesce(max(run_id), 0) + 1 FROM profile_runs"))
        con.execute("INSERT INTO profile_runs VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), spec.sources(),
                     spec_to_json(spec), min_words, reference])
        for table, df, cols in (("profile_run_scores", scores, SCORE_COLUMNS),
                                ("profile_run_users", users, USER_COLUMNS),
                                ("profile_run_norms", norms, NORM_COLUMNS)):
            if len(df):
                con.register("_in", df[cols])
                names = ", ".join(quote_ident(c) for c in cols)
                con.execute(f"INSERT INTO {quote_ident(table)} (run_id, {names}) "
                            f"SELECT ?, {names} FROM _in", [run_id])
                con.unregister("_in")
        con.execute("COMMIT")
    return run_id


def resolve_run(con, run: int | None, path: Any = "") -> int:
    """``run`` if the study has it, else (``run`` None) the latest run; a clear error if
    there is no profile run (or not that one)."""
    from psyprofile.store.db import scalar

    latest = scalar(con, "SELECT max(run_id) FROM profile_runs")
    if latest is None:
        raise PsyprofileError(f"{path}: no profiles yet; run `psyprofile profile {path}`.")
    if run is None:
        return int(latest)
    if not scalar(con, "SELECT count(*) FROM profile_runs WHERE run_id = ?", [run]):
        have = ", ".join(str(r[0]) for r in con.execute(
            "SELECT run_id FROM profile_runs ORDER BY 1").fetchall())
        raise PsyprofileError(f"{path}: no profile run {run}; runs: {have} "
                              "(`psyprofile profile STUDY --runs` lists them).")
    return int(run)


def list_runs(ws: Workspace) -> pd.DataFrame:
    """The study's profile runs: run_id, created_at, sources, min_words, reference, users
    scored (empty frame when there are none)."""
    with ws.connect() as con:
        return con.execute(
            "SELECT r.run_id, r.created_at, r.sources, r.min_words, r.reference, "
            "(SELECT count(*) FROM profile_run_users u WHERE u.run_id = r.run_id AND "
            "u.status = 'scored') AS scored FROM profile_runs r ORDER BY r.run_id").df()


def stored_spec(ws: Workspace, run: int | None = None) -> ProfileSpec:
    """The spec of profile run ``run`` (default the latest; :func:`default_spec` when the
    run predates stored specs or there is no run)."""
    from psyprofile.profiles.spec import spec_from_json
    from psyprofile.store.db import scalar

    with ws.connect() as con:
        if scalar(con, "SELECT max(run_id) FROM profile_runs") is None:
            return default_spec()
        rid = resolve_run(con, run, ws.path)
        text = scalar(con, "SELECT spec FROM profile_runs WHERE run_id = ?", [rid])
    return spec_from_json(text) if text else default_spec()


def read_scores(ws: Workspace, run: int | None = None) -> pd.DataFrame:
    """The scores of profile run ``run`` (default the latest): ``run_id``,
    :data:`SCORE_COLUMNS`, ``unit`` and the evidence of each score's source
    (:data:`psyprofile.profiles.evidence.EVIDENCE_COLUMNS`); a clear error if ``profile``
    has not run."""
    from psyprofile.profiles.evidence import with_evidence

    with ws.connect() as con:
        rid = resolve_run(con, run, ws.path)
        cols = ", ".join(f"s.{c}" for c in SCORE_COLUMNS)
        df = con.execute(f"SELECT s.run_id, {cols}, n.unit FROM profile_run_scores s "
                         "LEFT JOIN profile_run_norms n ON n.run_id = s.run_id AND "
                         "n.dimension = s.dimension AND n.source = s.source "
                         "WHERE s.run_id = ?", [rid]).df()
    return with_evidence(df)


def read_users(ws: Workspace, run: int | None = None) -> pd.DataFrame:
    """The users of profile run ``run`` (default the latest): :data:`USER_COLUMNS`."""
    with ws.connect() as con:
        rid = resolve_run(con, run, ws.path)
        return con.execute(f"SELECT {', '.join(USER_COLUMNS)} FROM profile_run_users "
                           "WHERE run_id = ? ORDER BY user_id", [rid]).df()


def read_norms(ws: Workspace, run: int | None = None) -> pd.DataFrame:
    """The study's own norms of profile run ``run`` (default the latest)."""
    with ws.connect() as con:
        rid = resolve_run(con, run, ws.path)
        return con.execute(f"SELECT {', '.join(NORM_COLUMNS)} FROM profile_run_norms "
                           "WHERE run_id = ?", [rid]).df()
