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

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pyarrow as pa
import regex
from tqdm.auto import tqdm

from psyprofile.engine.lifeline import exit_with_parent
from psyprofile.errors import PsyprofileError
from psyprofile.features.extract import level_expression
from psyprofile.features.store import write_features

SCORES = ("compound", "pos", "neg", "neu")
_SENTENCE_END = regex.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_CHUNK = 1000  # messages per worker task
_PARALLEL_MIN = 4000  # below this many messages a second process costs more than it saves
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


def extract_vader(ws: Any, level: str = "user", progress: bool = True,
                  workers: int | None = None) -> dict[str, int]:
    """Score every message with VADER and store the per-``level`` means as feature set
    ``vader`` (features compound, pos, neg, neu; see the module docstring). Messages whose
    group at ``level`` is empty are left out. ``workers``: processes to use (default: up
    to 2 when there are many messages). Returns ``{'features', 'groups', 'rows'}``.
    """
    with ws.connect() as con:
        gexpr = level_expression(con, level)
        rows = con.execute(
            f"SELECT {gexpr}, text FROM messages WHERE {gexpr} IS NOT NULL ORDER BY message_id"
        ).fetchall()
    if not rows:
        raise PsyprofileError("the study holds no messages to score; ingest posts first.")
    groups, texts = [r[0] for r in rows], [r[1] for r in rows]
    chunks = [texts[i:i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
    n_workers = workers or (min(2, os.cpu_count() or 1) if len(texts) >= _PARALLEL_MIN else 1)
    bar = tqdm(total=len(texts), desc="VADER", unit="msg", disable=not progress)
    scores: list[tuple[float, float, float, float]] = []
    if n_workers == 1:
        for c in chunks:
            scores.extend(_score_chunk(c))
            bar.update(len(c))
    else:
        # spawn, not fork: DuckDB's threads in this process must not be copied mid-flight
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=exit_with_parent) as pool:
            for c, part in zip(chunks, pool.map(_score_chunk, chunks), strict=True):
                scores.extend(part)
                bar.update(len(c))
    bar.close()
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
