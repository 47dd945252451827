"""The language guard: users who write mostly in languages the sources were not built for.

Every profile source declares the languages it was built for
(:func:`psyprofile.profiles.evidence.source_evidence`; all the current lexica, VADER and the
zero-shot items are English). Each message carries a language code (``messages.lang``: the
platform's tag or the detected language, ``'und'`` when too short to tell). Per user, the
share of words in messages of *other* languages is ``other_share`` (words of ``'und'``
messages count as neither); a user with ``other_share`` above :data:`MAX_OTHER_SHARE` gets
the status ``unsupported_language`` and no score. The language mix (the top
:data:`TOP_LANGUAGES` languages with their shares of the user's words) is reported for
every user.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from psyprofile.profiles.sources import Messages

MAX_OTHER_SHARE = 0.5
TOP_LANGUAGES = 3
UNKNOWN = "und"


def supported_languages(source_ids: Iterable[str]) -> set[str]:
    """The languages any of the sources was built for."""
    from psyprofile.profiles.evidence import source_evidence

    out: set[str] = set()
    for s in source_ids:
        out |= set(source_evidence(s).languages)
    return out or {"en"}


def language_mix(msgs: Messages, supported: set[str]) -> tuple[np.ndarray, list[str]]:
    """Per user (``msgs.users`` order): the share of words in messages of languages outside
    ``supported`` (n_users,), and the mix as text, e.g. ``'en 0.92, de 0.05, und 0.03'``.
    Without per-message languages (``msgs.langs`` None) every share is 0 and the mix ''."""
    n = len(msgs.users)
    if msgs.langs is None:
        return np.zeros(n), [""] * n
    codes, lang = np.unique(msgs.langs, return_inverse=True)
    words = np.zeros((n, len(codes)))
    # a message without 1gram tokens still counts as one word, so a user of one language
    # whose text the tokenizer does not split (e.g. Chinese) is not 0/0
    np.add.at(words, (msgs.user, lang), np.maximum(msgs.words, 1.0))
    total = words.sum(axis=1)
    other = np.array([c not in supported and c != UNKNOWN for c in codes])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, words[:, other].sum(axis=1) / total, 0.0)
        frac = words / total[:, None]
    mix = []
    for i in range(n):
        top = np.argsort(-frac[i], kind="stable")[:TOP_LANGUAGES]
        mix.append(", ".join(f"{codes[j]} {frac[i, j]:.2f}" for j in top if frac[i, j] > 0))
    return share, mix
