"""The words of a topic feature set: what a topic is, so tables and clouds can name it.

A topic set is a feature set made from a weighted lexicon whose categories are all numbers
(like ``fb2000_cp``); its features are topic ids, which mean nothing to a reader until they
are shown with their highest-weighted words ('dinner, cook, eat').
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from psyprofile.errors import PsyprofileError
from psyprofile.features.store import feature_set_params
from psyprofile.lexica.load import INTERCEPT
from psyprofile.lexica.registry import resolve_lexicon
from psyprofile.store.workspace import Workspace


def topic_words_for(ws: Workspace, feature_set: str, level: str = "user"
                    ) -> dict[str, dict[str, float]] | None:
    """{topic id: {word: weight}} when ``feature_set`` is a topic set (made from a weighted
    lexicon whose categories are all numbers, like ``fb2000_cp``), else None.

    Raises :class:`PsyprofileError` (e.g. ``LexiconUnavailable``) if the lexicon cannot be read.
    """
    with ws.connect() as con:
        params = feature_set_params(con, feature_set, level) or {}
    if not params.get("lexicon") or not params.get("weighted"):
        return None
    # A lexicon read from a file is read from it again; a bundled or stored one by its name.
    source = str(params.get("source") or "")
    from_file = Path(source).is_file() or Path(source.rpartition(":")[0]).is_file()
    lex = resolve_lexicon(source if from_file else params["lexicon"], ws)
    if not all(c.isdigit() for c in lex.categories):
        return None
    out: dict[str, dict[str, float]] = {}
    for term, cat, weight in zip(*(lex.entries.column(c).to_pylist()
                                   for c in ("term", "category", "weight")), strict=True):
        if term != INTERCEPT:
            out.setdefault(cat, {})[term] = weight
    return out


def topic_label(words: Mapping[str, float], n: int = 3) -> str:
    """A topic named by its ``n`` highest-weighted words: 'dinner, cook, eat'."""
    top = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(w for w, _ in top)


def topic_labels(ws: Workspace, feature_sets: list[str], level: str = "user"
                 ) -> dict[str, dict[str, str]]:
    """{topic set: {topic id: label}} for the sets of ``feature_sets`` that are topic sets
    whose words can be read (others are left out: their features are their own names)."""
    out = {}
    for name in feature_sets:
        try:
            words = topic_words_for(ws, name, level)
        except PsyprofileError:
            words = None
        if words:
            out[name] = {topic: topic_label(w) for topic, w in words.items()}
    return out
