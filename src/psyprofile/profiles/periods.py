"""Profile scores of each user on their own posts of each period (for trends that measure change).

A user's whole-history score answers "what is this person like"; a trend needs "what did
this person's language say in March". Here every (user, period) is scored like a user of
its own: the study's messages are regrouped so that each (user, period) is one "user" of
:class:`psyprofile.profiles.sources.Messages`, and the sources of the latest profile run
(its stored spec) go through the same :func:`psyprofile.profiles.scoring.score_source` and
:func:`psyprofile.profiles.study.source_rows` as ``psyprofile profile``, with the run's
reference norms, so period values are on the scale of the whole-history values (zero-shot
Big Five as z against the reference; without reference norms, against the scored
user-periods). A (user, period) is scored only when it rests on at least ``min_words``
words; posts without a time are in no period. Big Five from saved models
(``profile --big5 MODEL``) is predicted from user-level features and gets no period values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.store.db import one
from psyprofile.store.workspace import Workspace

PERIOD_FORMATS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


@dataclass
class PeriodScores:
    """``scores``: columns user_id, period, dimension, value (one row per scored user x
    period x dimension); ``skipped``: (user, period) pairs under ``min_words``; ``unscored``:
    requested dimensions with no period scores (e.g. saved-model Big Five)."""

    scores: pd.DataFrame
    min_words: int
    skipped: int = 0
    unscored: list[str] = field(default_factory=list)


def default_min_words(ws: Workspace) -> int:
    """Words a user-period needs: ``min_period_words`` in psyprofile.toml, else ``min_words``."""
    return int(ws.config.get("min_period_words", ws.config["min_words"]))


def period_scores(ws: Workspace, period: str, dimensions: list[str], *,
                  min_words: int | None = None, progress: bool = True) -> PeriodScores:
    """Scores of ``dimensions`` for every (user, ``period``) with at least ``min_words``
    words (default :func:`default_min_words`); ``period`` is 'day', 'week' or 'month'."""
    from psyprofile.profiles.scoring import score_source
    from psyprofile.profiles.study import prepare, reference_for, source_rows, stored_spec

    if period not in PERIOD_FORMATS:
        raise PsyprofileError(f"period must be one of {', '.join(PERIOD_FORMATS)} (got '{period}').")
    mw = default_min_words(ws) if min_words is None else int(min_words)
    if mw < 1:
        raise PsyprofileError(f"--min-period-words must be 1 or more (got {mw}).")
    with ws.connect() as con:
        run = one(con, "SELECT run_id, reference FROM profile_runs ORDER BY run_id DESC LIMIT 1")
    if run is None:
        raise PsyprofileError(f"{ws.path}: trends score each user per period with the sources "
                              "of the last profile run, and there is none; run "
                              f"`psyprofile profile {ws.path}` first.")
    spec = stored_spec(ws, int(run[0]))
    ref = reference_for(spec, run[1] if run[1] == "study" else "blogs")
    prep = prepare(ws, spec, progress)
    msgs = prep.msgs
    with ws.connect() as con:
        t = con.execute("SELECT message_id, strftime(created_at, ?) AS period FROM messages",
                        [PERIOD_FORMATS[period]]).df()
    per_of = dict(zip(t["message_id"], t["period"], strict=True))
    per = np.array([per_of.get(m) for m in msgs.ids.tolist()], dtype=object)
    timed = np.array([isinstance(p, str) for p in per])
    codes, pairs = pd.factorize(pd.MultiIndex.from_arrays(
        [msgs.user[timed], per[timed].astype(str)]), sort=True)
    n = len(pairs)
    # each (user, period) is a "user"; untimed messages go to a last one that is never kept
    pair_of_msg = np.full(len(msgs.ids), n, dtype=np.int64)
    pair_of_msg[timed] = codes
    keep = np.bincount(pair_of_msg, weights=msgs.words, minlength=n + 1) >= mw
    keep[n] = False
    labels = [str(i) for i in range(n + 1)]
    regrouped = replace(msgs, user=pair_of_msg, users=labels)
    wanted = set(dimensions)
    parts = []
    for src in prep.sources:
        if not keep.any() or not wanted & {d.name for d in src.dimensions}:
            continue
        rows, _ = source_rows(score_source(src, regrouped, keep), labels, keep, ref)
        parts.append(rows[rows["dimension"].isin(wanted)])
    if parts:
        rows = pd.concat(parts, ignore_index=True)
        i = rows["user_id"].astype(int).to_numpy()
        users = np.asarray(msgs.users)
        scores = pd.DataFrame({"user_id": users[pairs.get_level_values(0).to_numpy()[i]],
                               "period": pairs.get_level_values(1).to_numpy()[i],
                               "dimension": rows["dimension"].to_numpy(),
                               "value": rows["value"].to_numpy(float)})
        scores = scores[np.isfinite(scores["value"].to_numpy(float))]
    else:
        scores = pd.DataFrame(columns=["user_id", "period", "dimension", "value"])
    return PeriodScores(scores.reset_index(drop=True), mw, int((~keep[:n]).sum()),
                        sorted(wanted - set(scores["dimension"])))
