"""VADER sentiment features (Hutto & Gilbert 2014) from the ``vaderSentiment`` package.

VADER is built for sentence-length text, and its cost grows with the square of a text's
length (a 5,000-word blog post takes over a second). So each message is split into
sentences (after ``.``, ``!``, ``?`` runs followed by a space, and at line breaks), each
sentence is scored, and a message's ``compound``, ``pos``, ``neg`` and ``neu`` are the
means over its sentences. A one-sentence message (most tweets) gets exactly VADER's score
of the whole message. A group's value is the mean over its messages, each message
weighing the same whatever its length; ``value`` and ``group_norm`` hold that same mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import regex

from psyprofile.engine import LocalEngine, usable_cpus
from psyprofile.errors import PsyprofileError
from psyprofile.features.extract import level_expression
from psyprofile.features.store import write_features

SCORES = ("compound", "pos", "neg", "neu")
_SENTENCE_END = regex.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_CHUNK = 500  # messages per worker task (and per tick of the progress bar)
_PARALLEL_MIN = 2000  # below this many messages a second process costs more than it saves
_analyzer = None


def _scorer():
    global _analyzer
    if _analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def message_scores(text: str) -> tuple[float, float, float, float]:
    """(compound, pos, neg, neu) of one message: VADER's scores averaged over its sentences."""
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()] or [text]
    sia = _scorer()
    sums = [0.0, 0.0, 0.0, 0.0]
    for s in sentences:
        d = sia.polarity_scores(s)
        for i, k in enumerate(SCORES):
            sums[i] += d[k]
    n = len(sentences)
    return sums[0] / n, sums[1] / n, sums[2] / n, sums[3] / n


def _score_chunk(texts: Sequence[str]) -> list[tuple[float, float, float, float]]:
    return [message_scores(t) for t in texts]


def score_texts(texts: Sequence[str], *, workers: int | None = None, progress: bool = True,
                chunk: int = _CHUNK) -> list[tuple[float, float, float, float]]:
    """:func:`message_scores` of every text, in order; on ``workers`` processes (default: every
    usable CPU when there are many texts, since VADER is slow pure Python; else this one),
    ``chunk`` texts per task."""
    chunks = [list(texts[i:i + chunk]) for i in range(0, len(texts), chunk)]
    n = workers or (usable_cpus() if len(texts) >= _PARALLEL_MIN else 1)
    with LocalEngine(n) as engine:
        return [s for part in engine.map(_score_chunk, chunks, desc="VADER", progress=progress,
                                         total=len(chunks)) for s in part]


def extract_vader(ws: Any, level: str = "user", progress: bool = True,
                  workers: int | None = None) -> dict[str, int]:
    """Score every message with VADER and store the per-``level`` means as feature set
    ``vader`` (features compound, pos, neg, neu; see the module docstring). Messages whose
    group at ``level`` is empty are left out. ``workers``: processes to use (see
    :func:`score_texts`). Returns ``{'features', 'groups', 'rows'}``.
    """
    with ws.connect() as con:
        gexpr = level_expression(con, level)
        rows = con.execute(
            f"SELECT {gexpr}, text FROM messages WHERE {gexpr} IS NOT NULL ORDER BY message_id"
        ).fetchall()
    if not rows:
        raise PsyprofileError("the study holds no messages to score; ingest posts first.")
    groups, texts = [r[0] for r in rows], [r[1] for r in rows]
    scores = score_texts(texts, workers=workers, progress=progress)
    per_msg = pa.table({"group_id": groups, **{k: [s[i] for s in scores] for i, k in enumerate(SCORES)}})
    with ws.connect() as con:
        con.register("_vader_msg", per_msg)
        try:
            long = con.sql(
                "SELECT group_id, feature, avg(score) AS value, avg(score) AS group_norm FROM "
                "(UNPIVOT _vader_msg ON compound, pos, neg, neu INTO NAME feature VALUE score) "
                "GROUP BY 1, 2"
            ).to_arrow_table()
        finally:
            con.unregister("_vader_msg")
        return write_features(con, "vader", level, long, kind="vader",
                              params={"unit": "sentence mean per message, message mean per group"})
