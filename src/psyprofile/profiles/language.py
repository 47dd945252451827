"""The language guard: a source scores only the users who write mostly in its languages.

Every profile source declares the languages it was built for
(:func:`psyprofile.profiles.evidence.source_evidence`): the lexica, VADER and the MiniLM
zero-shot items are English; the zero-shot source with ``e5-multilingual`` takes the ~100
languages of :data:`psyprofile.features.multilingual.LANGUAGES`. A saved model supports the
languages of its training posts (:func:`psyprofile.models.card.supported_languages`); a
lexicon file of unknown language, and a model saved before its card recorded languages, are
taken as English. Each message
carries a language code (``messages.lang``: the platform's tag or the detected language,
``'und'`` when too short to tell). Per user and source, the share of words in messages of
languages *outside the source's* (words of ``'und'`` messages count as neither) above
:data:`MAX_OTHER_SHARE` makes the user unsupported *for that source*: it gives them no
number, and the user's ``unsupported_sources`` lists it. A user no source supports gets the
status ``unsupported_language`` and no score at all. ``other_language_share`` is the share
outside every source's languages; the language mix (the top :data:`TOP_LANGUAGES` languages
with their shares of the user's words) is reported for every user.

:func:`language_guard` is the one implementation, used by ``profile_study`` (CLI) and
``profile_texts`` (API) alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from psyprofile.profiles.sources import Messages

MAX_OTHER_SHARE = 0.5
TOP_LANGUAGES = 3
UNKNOWN = "und"
UNDECLARED = frozenset({"en"})  # a source without declared languages (a lexicon file)


def source_languages(source_id: str) -> frozenset[str]:
    """The languages (ISO 639-1) the source ``source_id`` was built for."""
    from psyprofile.profiles.evidence import source_evidence

    return frozenset(source_evidence(source_id).languages) or UNDECLARED


@dataclass(frozen=True)
class LanguageGuard:
    """Per user (``Messages.users`` order) of one set of sources: ``mix`` the language mix
    as text (e.g. ``'en 0.92, de 0.05, und 0.03'``), ``other`` (n_users,) the share of words
    outside every source's languages, ``unsupported`` source id -> (n_users,) bool, True
    where the user writes mostly in languages that source was not built for; ``languages``
    every language some source was built for (``other`` is the share outside them)."""

    mix: list[str]
    other: np.ndarray
    unsupported: dict[str, np.ndarray]
    languages: frozenset[str]

    def supports(self, source_id: str) -> np.ndarray:
        """(n_users,) bool: the users ``source_id`` may score."""
        return ~self.unsupported[source_id]

    def no_source(self) -> np.ndarray:
        """(n_users,) bool: users none of the sources supports (``unsupported_language``)."""
        if not self.unsupported:
            return np.zeros(len(self.other), dtype=bool)
        return np.logical_and.reduce(list(self.unsupported.values()))

    def unsupported_sources(self) -> list[list[str]]:
        """Per user, the source ids that do not support them (in the given source order)."""
        n = len(self.other)
        return [[s for s, bad in self.unsupported.items() if bad[i]] for i in range(n)]


def language_guard(msgs: Messages, source_ids: Sequence[str],
                   declared: Mapping[str, frozenset[str]] | None = None) -> LanguageGuard:
    """The :class:`LanguageGuard` of ``source_ids`` over ``msgs``; ``declared`` gives the
    languages of sources whose id does not name them (``model:REF``: its
    :func:`~psyprofile.models.card.supported_languages`),
    the others' come from their evidence. Without per-message languages (``msgs.langs``
    None) every source supports every user and the mix is ''."""
    n = len(msgs.users)
    declared = declared or {}
    per_source = {s: declared.get(s) or source_languages(s) for s in source_ids}
    union = frozenset().union(*per_source.values()) if per_source else UNDECLARED
    if msgs.langs is None:
        return LanguageGuard([""] * n, np.zeros(n), {s: np.zeros(n, dtype=bool) for s in source_ids},
                             union)
    codes, lang = np.unique(msgs.langs, return_inverse=True)
    words = np.zeros((n, len(codes)))
    # a message without 1gram tokens still counts as one word, so a user of one language
    # whose text the tokenizer does not split (e.g. Chinese) is not 0/0
    np.add.at(words, (msgs.user, lang), np.maximum(msgs.words, 1.0))
    total = words.sum(axis=1)

    def outside(langs: frozenset[str]) -> np.ndarray:
        cols = np.array([c not in langs and c != UNKNOWN for c in codes])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, words[:, cols].sum(axis=1) / total, 0.0)

    unsupported = {s: outside(langs) > MAX_OTHER_SHARE for s, langs in per_source.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = words / total[:, None]
    mix = []
    for i in range(n):
        top = np.argsort(-frac[i], kind="stable")[:TOP_LANGUAGES]
        mix.append(", ".join(f"{codes[j]} {frac[i, j]:.2f}" for j in top if frac[i, j] > 0))
    return LanguageGuard(mix, outside(union), unsupported, union)

