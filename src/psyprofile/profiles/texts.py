"""``profile_texts``: one person's profile from their texts, with no study (contract C1).

The texts are scored in memory (:mod:`psyprofile.profiles.person`) with the same sources and
rules as :func:`psyprofile.profiles.study.profile_study` scores a study's users, so a
person gets the numbers they would get as a user of a study; lexica, trait directions and
the embedder are loaded once per process. A single person has no study to be compared with, so intervals,
percentiles and the zero-shot standardisation come from reference norms: the
``profile_norms`` of the blog corpus (1,000 bloggers) shipped as ``norms_blogs.json``
(written by ``bench/profiles.py``). Dimensions without norms (e.g. from a lexicon file given
through :func:`psyprofile.profiles.spec.spec_from_lexica`) get ``lo``/``hi``/``pct`` None and
a warning; zero-shot scores without norms are the raw keyed similarities.

Texts shorter than :data:`SHORT_WORDS` words are scored with a warning (IBM Personality
Insights asked for 600 or more words); below ``min_words`` nothing is scored.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from psyprofile.errors import InputError
from psyprofile.profiles.evidence import dimension_evidence
from psyprofile.profiles.person import person_messages
from psyprofile.profiles.scoring import score_source
from psyprofile.profiles.spec import ProfileSpec, default_spec
from psyprofile.profiles.study import is_zeroshot, values_with_interval
from psyprofile.store.workspace import DEFAULT_CONFIG

SHORT_WORDS = 600
NORMS_FILE = Path(__file__).with_name("norms_blogs.json")


@cache
def load_norms(path: str | None = None) -> dict[str, Any]:
    """Reference norms: ``{"reference": str, "dimensions": {(dimension, source): {c, mean,
    sd, n, reliability, quantiles, unit, ...}}}``; none when the file is absent."""
    p = Path(path) if path else NORMS_FILE
    if not p.is_file():
        return {"reference": None, "dimensions": {}}
    data = json.loads(p.read_text())
    data["dimensions"] = {(d["dimension"], d["source"]): d for d in data["dimensions"]}
    return data


def _pct(value: float, quantiles: list[float]) -> float | None:
    if not quantiles or not np.isfinite(value):
        return None
    return float(np.interp(value, quantiles, np.linspace(0, 100, len(quantiles))))


def _times(timestamps: list[str] | None, n: int) -> list[dt.datetime | None]:
    """Naive times of the ``n`` texts (the wall-clock time as written, offset dropped, as a
    study stores them), or Nones; an :class:`InputError` names the first bad one."""
    if timestamps is None:
        return [None] * n
    if len(timestamps) != n:
        raise InputError(f"timestamps: {len(timestamps)} given for {n} texts; give one "
                         "per text or none.")
    times: list[dt.datetime | None] = []
    for i, t in enumerate(timestamps):
        try:
            times.append(dt.datetime.fromisoformat(str(t).replace("Z", "+00:00")).replace(tzinfo=None))
        except ValueError:
            raise InputError(f"timestamps[{i}]: '{t}' is not an ISO 8601 time (e.g. "
                             "2024-05-01T12:00:00Z).") from None
    return times


def profile_texts(texts: list[str], *, timestamps: list[str] | None = None,
                  min_words: int = DEFAULT_CONFIG["min_words"],
                  spec: ProfileSpec | None = None) -> dict[str, Any]:
    """The profile of one person from ``texts`` (their posts), JSON-ready::

        {"words": int, "status": "scored" | "insufficient_text" | "unsupported_language",
         "languages": str, "unsupported_sources": [str], "warnings": [str],
         "scores": [{"family", "dimension", "value", "lo", "hi", "pct", "words", "source",
                     "unit", "reference", "coverage",
                     "validation": {"split_half_reliability", "reference", ...} | None,
                     "evidence": {source, source_name, status, citation, languages,
                                  convergent: [...], evidence_note}}]}

    ``timestamps`` (ISO 8601, one per text) order the texts for the split halves; ``spec``
    defaults to :func:`default_spec`. ``pct`` is the percentile in the reference sample
    named in ``reference``; ``evidence`` is the source's entry in
    :mod:`psyprofile.profiles.evidence`. The texts' languages are detected; a source gives no score
    to a person writing mostly in languages it was not built for (it is then listed in
    ``unsupported_sources``; :mod:`psyprofile.profiles.language`), and with no source left
    the status is ``unsupported_language``.
    """
    from psyprofile.profiles.language import language_guard
    from psyprofile.profiles.person import person_sources
    from psyprofile.profiles.study import reference_for
    from psyprofile.text.langid import detect_languages
    from psyprofile.text.tokenize import tokenize

    # empty texts are dropped with their times, after the times are checked
    pairs = [(str(t), tm) for t, tm in zip(texts, _times(timestamps, len(texts)), strict=True)
             if t is not None and str(t).strip()]
    if not pairs:
        return {"words": 0, "status": "insufficient_text", "scores": [], "languages": "",
                "unsupported_sources": [],
                "warnings": ["no text given; a profile needs the person's posts"]}
    texts = [t for t, _ in pairs]
    times = [tm for _, tm in pairs]
    spec = spec or default_spec()
    ref = reference_for(spec)
    tokens = [tokenize(t) for t in texts]
    words = sum(map(len, tokens))
    msgs, order = person_messages(texts, tokens, times)
    msgs.langs = np.array(detect_languages(texts), dtype=object)[order].astype(str)
    guard = language_guard(msgs, spec.sources())
    mix, unsupported = guard.mix[0], guard.unsupported_sources()[0]
    if guard.no_source()[0]:
        langs = sorted(guard.languages)
        took = ", ".join(langs) if len(langs) <= 8 else f"{len(langs)} languages"
        return {"words": words, "status": "unsupported_language", "scores": [],
                "languages": mix, "unsupported_sources": unsupported,
                "warnings": [f"{guard.other[0]:.0%} of the words are in languages the sources "
                             f"were not built for (they take {took}); no score is given"]}
    if words < min_words:
        return {"words": words, "status": "insufficient_text", "scores": [], "languages": mix,
                "unsupported_sources": unsupported,
                "warnings": [f"{words} words; at least {min_words} are needed for a profile"]}
    warnings: list[str] = []
    if unsupported:
        warnings.append("most of the words are in languages these sources were not built for, "
                        f"so they give no score: {', '.join(unsupported)}")
    if words < SHORT_WORDS:
        warnings.append(f"only {words} words: scores from fewer than {SHORT_WORDS} words are "
                        "unreliable; the intervals show how much")
    msgs, sources = person_sources(tokens, texts, times, spec)
    keep = np.array([True])
    scores, no_norms = [], []
    for src in sources:
        if src.source_id in unsupported:
            continue
        sc = score_source(src, msgs, keep)
        for j, d in enumerate(src.dimensions):
            nrm = ref.get(d, src.source_id) if ref else None
            if nrm is None:
                no_norms.append(d.name)
            raw, w = sc.raw[:, j], sc.words
            z = (nrm["mean"], nrm["sd"]) if nrm and is_zeroshot(src.source_id) else None
            value, lo, hi = values_with_interval(raw, w, nrm["c"] if nrm else np.nan, d, z)
            v = float(value[0])
            scores.append({
                "family": d.family, "dimension": d.name, "value": _num(v),
                "lo": _num(lo[0]) if nrm else None, "hi": _num(hi[0]) if nrm else None,
                "pct": _pct(v, nrm["quantiles"]) if nrm else None, "words": int(round(w[0])),
                "source": src.source_id, "unit": d.unit,
                "reference": ref.label(nrm) if nrm else None,
                "coverage": _num(sc.coverage[0]) if sc.coverage is not None else None,
                "validation": _validation(d.name, nrm, ref.norms if ref else {}),
                "evidence": dimension_evidence(src.source_id, d.name)})
    if no_norms:
        warnings.append("no reference norms for " + ", ".join(no_norms) + ": no interval or "
                        "percentile (zero-shot scores without norms are raw similarities)")
    return {"words": words, "status": "scored", "warnings": warnings, "scores": scores,
            "languages": mix, "unsupported_sources": unsupported}


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _validation(name: str, nrm: dict | None, norms: dict) -> dict | None:
    """The reference sample's reliability of the score (its convergent evidence is in
    ``evidence``: :mod:`psyprofile.profiles.evidence` is the one table of it)."""
    if nrm is None:
        return None
    return {"split_half_reliability": nrm.get("reliability"),
            "reference": nrm.get("reference") or norms.get("reference"),
            "reference_users": nrm.get("n")}
