"""Which sources a profile uses: :class:`ProfileSpec`.

Public API (contract C1)::

    @dataclass(frozen=True)
    class Dimension:
        family: str       # big5, emotions, sentiment, wellbeing, temporal, age, gender
        name: str         # unique dimension name, e.g. 'anger', 'perma_pos_p', 'gender_female'
        category: str     # the lexicon category it reads (or the VADER score / Big Five trait)
        unit: str         # what the value means, for cards and exports
        transform: str = "identity"   # "logistic" (P(female)), "nonneg"/"nonpos" (a sum of
                                  # weights of one sign), "share" (0..1; older runs)

    @dataclass(frozen=True)
    class LexiconSource:
        lexicon: str                  # the lexicon id, e.g. 'nrc_emot' (also the source id)
        dimensions: tuple[Dimension, ...]
        path: str | None = None       # read the lexicon from this file instead of the bundle

    @dataclass(frozen=True)
    class ProfileSpec:
        lexica: tuple[LexiconSource, ...]
        vader: bool = True            # VADER compound (sentence mean per message, message mean)
        big5: str | None = "wwbp"     # 'wwbp', 'zeroshot', saved model name(s)/path(s), joined
                                      # by ','; None. 'wwbp' is the lexicon source wwbp_big5
        embedder: str = DEFAULT_EMBEDDER   # zero-shot: 'minilm' (default), 'minilm-static' or
                                      # 'e5-multilingual' (posts in ~100 languages)
        max_messages: int = 16        # 'minilm', 'e5-multilingual': messages embedded per user
        inventories: tuple[str, ...] = ("ipip50", "ipipneo120")
        norms: str | None = None      # reference norms file for profile_texts (None: bundled)

        def sources(self) -> list[str]          # source ids, for messages and cards

    default_spec(big5: str | None = "wwbp", embedder: str = DEFAULT_EMBEDDER) -> ProfileSpec
        # every bundled lexicon dimension + VADER + Big Five from ``big5`` (default: the WWBP
        # lexicon, the source with the best convergent evidence: profiles.evidence)

    spec_from_lexica(paths: Mapping[str, str | Path], *, vader: bool = False,
                     big5: str | None = None) -> ProfileSpec
        # ``paths`` maps a bundled lexicon id (a key of LEXICON_DIMENSIONS: nrc_emot, nrc_sent,
        # dd_permaV3, dd_wassa16_affectInt, dd_PastPreFut, dd_emnlp14_ageGender, wwbp_big5) to
        # a lexicon file (.csv/.dic/.json) holding that lexicon's
        # categories (a subset is fine: only the categories present become dimensions).
        # Needs no download, so tests and tutorials can use small fixture files, e.g.
        # spec_from_lexica({"nrc_emot": Path("tests/fixtures/profiles/nrc_emot.csv")})

The bundled lexica and what their categories mean are in :data:`LEXICON_DIMENSIONS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from psyprofile.errors import PsyprofileError

FAMILIES = ("big5", "emotions", "sentiment", "wellbeing", "temporal", "age", "gender")
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
EMBEDDERS = ("minilm-static", "minilm", "e5-multilingual")  # zero-shot embedders
DEFAULT_EMBEDDER = "minilm"  # sensible on all five traits; see docs/profiles.md
DEFAULT_BIG5 = "wwbp"  # the source with the best convergent evidence (profiles.evidence)


@dataclass(frozen=True)
class Dimension:
    """One profile score: its family, unique name, the category it reads and its unit."""

    family: str
    name: str
    category: str
    unit: str
    transform: str = "identity"


@dataclass(frozen=True)
class LexiconSource:
    """A lexicon (bundled id, or a file standing in for it) and the dimensions it gives."""

    lexicon: str
    dimensions: tuple[Dimension, ...]
    path: str | None = None

    @property
    def ref(self) -> str:
        """What :func:`psyprofile.lexica.registry.resolve_lexicon` is given."""
        return self.path or self.lexicon


PER_WORD = "Σ weight × count / words"


_PERMA = {f"{s.upper()}_{d}": f"perma_{s}_{d.lower()}" for s in ("pos", "neg") for d in "PERMA"}

#: bundled lexicon id -> the dimensions it gives
LEXICON_DIMENSIONS: dict[str, tuple[Dimension, ...]] = {
    "nrc_emot": tuple(
        Dimension("emotions", c, c, f"{c} association per word ({PER_WORD}; >= 0)", "nonneg")
        for c in ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")),
    "dd_wassa16_affectInt": (
        Dimension("emotions", "affect", "AFFECT_AVG", "valence, 1 (negative) .. 9 (positive)"),
        Dimension("emotions", "intensity", "INTENSITY_AVG", "arousal, 1 (calm) .. 9 (excited)"),
    ),
    "nrc_sent": (
        Dimension("sentiment", "nrc_sentiment", "SENT",
                  f"NRC hashtag sentiment per word ({PER_WORD}; < 0 negative, > 0 positive)"),
        Dimension("sentiment", "nrc_positive", "pos_sent",
                  f"positive NRC hashtag sentiment per word ({PER_WORD}; >= 0)", "nonneg"),
        Dimension("sentiment", "nrc_negative", "neg_sent",
                  f"negative NRC hashtag sentiment per word ({PER_WORD}; <= 0, lower = more "
                  "negative)", "nonpos"),
    ),
    "dd_permaV3": tuple(Dimension("wellbeing", n, c, f"PERMA lexicon score ({PER_WORD})")
                        for c, n in _PERMA.items()),
    "dd_PastPreFut": (
        Dimension("temporal", "past", "PAST_OR_NOT",
                  f"lexicon score ({PER_WORD} + intercept; higher: more past)"),
        Dimension("temporal", "present", "PRESENT_OR_NOT", f"lexicon score ({PER_WORD} + intercept)"),
        Dimension("temporal", "future", "FUTURE_OR_NOT", f"lexicon score ({PER_WORD} + intercept)"),
    ),
    "dd_emnlp14_ageGender": (
        Dimension("age", "age", "AGE", "years"),
        Dimension("gender", "gender_female", "GENDER", "P(female)", "logistic"),
    ),
    "wwbp_big5": tuple(
        Dimension("big5", t, t, f"WWBP lexicon score ({PER_WORD}, 1-3grams; weights are "
                                "correlations with the trait)") for t in TRAITS),
}
WWBP = "wwbp_big5"  # the lexicon source of --big5 wwbp

VADER_DIMENSION = Dimension("sentiment", "vader_compound", "compound",
                            "VADER compound, -1 .. 1 (mean over messages)")
BIG5_UNIT_ZEROSHOT = "z (keyed item similarity, standardised against the reference)"


@dataclass(frozen=True)
class ProfileSpec:
    """The sources of a profile (see the module docstring)."""

    lexica: tuple[LexiconSource, ...]
    vader: bool = True
    big5: str | None = DEFAULT_BIG5
    embedder: str = DEFAULT_EMBEDDER
    max_messages: int = 16
    inventories: tuple[str, ...] = ("ipip50", "ipipneo120")
    norms: str | None = None

    def __post_init__(self) -> None:
        if self.embedder not in EMBEDDERS:
            raise PsyprofileError(f"unknown zero-shot embedder '{self.embedder}'; choose one of "
                                  f"{', '.join(EMBEDDERS)}.")
        names = [d.name for s in self.lexica for d in s.dimensions]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PsyprofileError(f"profile dimensions named twice: {', '.join(dup)}.")

    def big5_parts(self) -> list[str]:
        """The Big Five sources named in ``big5``: 'wwbp', 'zeroshot', model refs."""
        return [m.strip() for m in (self.big5 or "").split(",") if m.strip()]

    @property
    def zeroshot(self) -> bool:
        """Whether zero-shot (IPIP item similarity) Big Five scores are part of the spec."""
        return "zeroshot" in self.big5_parts()

    def big5_models(self) -> list[str]:
        """Saved model refs given as ``big5`` (empty for the WWBP lexicon, zero-shot, none)."""
        return [m for m in self.big5_parts() if m not in ("wwbp", "zeroshot")]

    def zeroshot_source(self) -> str:
        """The source id of zero-shot Big Five scores, naming the items and the embedder."""
        return f"zeroshot:{'+'.join(self.inventories)}:{self.embedder}"

    def sources(self) -> list[str]:
        out = [s.lexicon for s in self.lexica]
        if self.vader:
            out.append("vader")
        if self.zeroshot:
            out.append(self.zeroshot_source())
        return out + [f"model:{m}" for m in self.big5_models()]


def _lexica_for(big5: str | None, lexica: tuple[LexiconSource, ...]) -> tuple[LexiconSource, ...]:
    """``lexica`` with the WWBP source added when ``big5`` names 'wwbp', dropped otherwise."""
    wants = "wwbp" in [m.strip() for m in (big5 or "").split(",")]
    rest = tuple(s for s in lexica if s.lexicon != WWBP)
    have = [s for s in lexica if s.lexicon == WWBP]
    if not wants:
        return rest
    return rest + (tuple(have) or (LexiconSource(WWBP, LEXICON_DIMENSIONS[WWBP]),))


def default_spec(big5: str | None = DEFAULT_BIG5, embedder: str = DEFAULT_EMBEDDER) -> ProfileSpec:
    """Every bundled lexicon dimension, VADER, and Big Five from ``big5`` (see the module
    docstring; the WWBP lexicon unless told otherwise)."""
    lexica = tuple(LexiconSource(name, dims) for name, dims in LEXICON_DIMENSIONS.items()
                   if name != WWBP)
    return ProfileSpec(lexica=_lexica_for(big5, lexica), big5=big5, embedder=embedder)


def spec_from_lexica(paths: Mapping[str, str | Path], *, vader: bool = False,
                     big5: str | None = None) -> ProfileSpec:
    """A spec reading bundled lexicon ids from files (no download); see the module docstring.

    Only the categories present in a file become dimensions; an unknown id is an error.
    """
    from psyprofile.lexica.registry import resolve_lexicon

    sources = []
    for lex_id, path in paths.items():
        if lex_id not in LEXICON_DIMENSIONS:
            raise PsyprofileError(f"'{lex_id}' is not a profile lexicon; use one of "
                                  f"{', '.join(LEXICON_DIMENSIONS)}.")
        cats = set(resolve_lexicon(str(path)).categories)
        dims = tuple(d for d in LEXICON_DIMENSIONS[lex_id] if d.category in cats)
        if not dims:
            want = ", ".join(d.category for d in LEXICON_DIMENSIONS[lex_id])
            raise PsyprofileError(f"{path}: none of the categories of {lex_id} ({want}) is in "
                                  "this lexicon file.")
        sources.append(LexiconSource(lex_id, dims, str(path)))
    spec = ProfileSpec(lexica=tuple(sources), vader=vader, big5=big5)
    if "wwbp" in spec.big5_parts() and WWBP not in paths:  # the bundled lexicon, then
        spec = replace(spec, lexica=_lexica_for(big5, spec.lexica))
    return spec


def spec_to_json(spec: ProfileSpec) -> str:
    """``spec`` as JSON (stored with a profile run, so later steps use the same sources)."""
    return json.dumps(asdict(spec))


def spec_from_json(text: str) -> ProfileSpec:
    """The spec :func:`spec_to_json` wrote."""
    d = json.loads(text)
    lexica = tuple(LexiconSource(s["lexicon"], tuple(Dimension(**x) for x in s["dimensions"]),
                                 s["path"]) for s in d.pop("lexica"))
    return ProfileSpec(lexica=lexica, **{**d, "inventories": tuple(d["inventories"])})


def with_big5(spec: ProfileSpec, big5: str | None) -> ProfileSpec:
    """``spec`` with another Big Five source (the WWBP lexicon source added or dropped)."""
    return replace(spec, big5=big5, lexica=_lexica_for(big5, spec.lexica))
