"""Writing-style measures per group (feature set ``style``).

Every measure is one feature; ``value`` is the measure and ``group_norm`` the same number
(the measures are already rates or averages, so there is nothing left to normalise).

Denominators, so the numbers can be read and checked:

* ``words`` counts every token of the project tokenizer, punctuation and emoji included,
  exactly like the 1gram totals (``group_words``); every ``*_rate`` is a count per such
  token, so ``fps_rate`` equals the summed 1gram ``group_norm`` of the first-person singular
  pronouns;
* ``question_marks_per_message`` and ``exclamations_per_message`` count ``?`` and ``!``
  characters per message;
* ``type_token_ratio`` is distinct tokens / tokens over all of the group's tokens; it falls
  as a group writes more, so compare it only between groups with similar ``words``;
* ``allcaps_rate``: words written in capitals of two or more letters (``OMG``), per token,
  found in the original text because tokens are lower-cased;
* ``night_share`` (share of posts from 0:00 to 5:59) and ``mean_hour`` (circular mean of the
  posting hour, 0-24) use ``created_at``, which is UTC; they are left out for groups without
  any post time, and ``mean_hour`` also when the hours cancel out exactly;
* ``flesch_reading_ease`` and ``flesch_kincaid_grade`` (:mod:`psyprofile.text.readability`:
  Flesch 1948, Kincaid et al. 1975, syllables by pyphen's hyphenation) are computed per
  message and averaged over the group's messages that have words: one long post does not
  outweigh many short ones, and the cost stays linear in the text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import regex

from psyprofile.features.ngrams import group_runs
from psyprofile.features.store import FEATURE_SCHEMA
from psyprofile.text import readability
from psyprofile.text.tokenize import is_elongated, token_kind

FIRST_SINGULAR = frozenset({"i", "me", "my", "mine", "myself", "i'm", "i've", "i'll", "i'd"})
FIRST_PLURAL = frozenset({"we", "us", "our", "ours", "ourselves", "we're", "we've", "we'll",
                          "we'd"})
SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "yourselves", "you're",
                           "you've", "you'll", "you'd"})

STYLE_FEATURES: tuple[str, ...] = (
    "messages", "words", "words_per_message", "type_token_ratio",
    "fps_rate", "fpp_rate", "second_person_rate",
    "question_marks_per_message", "exclamations_per_message", "allcaps_rate",
    "emoji_rate", "emoticon_rate", "url_rate", "mention_rate", "hashtag_rate",
    "elongated_rate", "night_share", "mean_hour",
    "flesch_reading_ease", "flesch_kincaid_grade",
)

_ALLCAPS = regex.compile(r"\b\p{Lu}{2,}\b")
_KIND_SLOT = {"emoji": 8, "emoticon": 9, "url": 10, "mention": 11, "hashtag": 12}
# Per-message sums, by slot: 0 messages, 1 tokens, 2 fps, 3 fpp, 4 second person, 5 '?',
# 6 '!', 7 all-caps words, 8-12 token kinds above, 13 elongated, 14 timed posts, 15 night
# posts, 16 sin(hour), 17 cos(hour), 18 posts with readability, 19 FRE sum, 20 FKG sum.
_SLOTS = 21


def _message_sums(text: str, tokens: list[str], hour: float | None) -> np.ndarray:
    s = np.zeros(_SLOTS)
    s[0] = 1
    s[1] = len(tokens)
    for tok in tokens:
        if tok in FIRST_SINGULAR:
            s[2] += 1
        elif tok in FIRST_PLURAL:
            s[3] += 1
        elif tok in SECOND_PERSON:
            s[4] += 1
        kind = token_kind(tok)
        slot = _KIND_SLOT.get(kind)
        if slot is not None:
            s[slot] += 1
        elif kind == "word" and is_elongated(tok):
            s[13] += 1
    s[5] = text.count("?")
    s[6] = text.count("!")
    s[7] = len(_ALLCAPS.findall(text))
    if hour is not None:
        angle = 2 * math.pi * hour / 24
        s[14:18] = (1, hour < 6, math.sin(angle), math.cos(angle))
    c = readability.counts(text)
    if c.words > 0:
        s[18:21] = (1, readability.flesch_reading_ease(c), readability.flesch_kincaid_grade(c))
    return s


def _measures(s: np.ndarray, types_: int) -> dict[str, float]:
    m = {"messages": s[0], "words": s[1], "words_per_message": s[1] / s[0],
         "question_marks_per_message": s[5] / s[0], "exclamations_per_message": s[6] / s[0]}
    if s[1] > 0:
        m["type_token_ratio"] = types_ / s[1]
        names = ("fps_rate", "fpp_rate", "second_person_rate", None, None, "allcaps_rate",
                 "emoji_rate", "emoticon_rate", "url_rate", "mention_rate", "hashtag_rate",
                 "elongated_rate")
        for slot, name in enumerate(names, start=2):
            if name:
                m[name] = s[slot] / s[1]
    if s[14] > 0:
        m["night_share"] = s[15] / s[14]
        if math.hypot(s[16], s[17]) > 1e-9 * s[14]:
            # rounded first so a mean a hair below midnight reads 0, not 24
            m["mean_hour"] = round(math.atan2(s[16], s[17]) * 24 / (2 * math.pi), 9) % 24
    if s[18] > 0:
        m["flesch_reading_ease"] = s[19] / s[18]
        m["flesch_kincaid_grade"] = s[20] / s[18]
    return m


def style_table(
    group_ids: Sequence[str],
    texts: Sequence[str],
    tokens: Sequence[list[str]],
    hours: Sequence[float | None],
    keep: Sequence[bool] | None = None,
) -> pa.Table:
    """Style rows of the groups in one chunk (messages of a group contiguous).

    ``hours`` is each message's hour of day in UTC as a float (e.g. 13.5), or None when the
    post has no time. ``keep`` (one flag per group run) drops groups. Rows are sorted by
    (group_id, feature), with :data:`FEATURE_SCHEMA`.
    """
    gids, feats, vals = [], [], []
    for j, (gid, a, b) in enumerate(group_runs(group_ids)):
        if keep is not None and not keep[j]:
            continue
        sums = np.zeros(_SLOTS)
        seen: set[str] = set()
        for i in range(a, b):
            sums += _message_sums(texts[i], tokens[i], hours[i])
            seen.update(tokens[i])
        for name, value in sorted(_measures(sums, len(seen)).items()):
            gids.append(gid)
            feats.append(name)
            vals.append(float(value))
    return pa.table([pa.array(gids, pa.string()), pa.array(feats, pa.string()),
                     pa.array(vals, pa.float64()), pa.array(vals, pa.float64())],
                    schema=FEATURE_SCHEMA)
