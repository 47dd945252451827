"""Per-message inputs of every profile source, scored over any grouping of messages.

A profile score is computed from the messages of a user; the reliability of that score from
the same user's odd and even messages. So every source keeps what it needs per message and
scores any *grouping* of them: ``raw(groups, n)`` takes an int array (one group index per
message of :class:`Messages`, -1 = left out) and returns an ``(n, n_dims)`` array of raw
scores. Grouping by user gives the profile, by (user, half) the split-half scores.

* lexica: per message ``S[m, c]`` = Σ weight × count of the category's 1–3grams and
  ``N[m]`` its 1gram tokens (from the study's message-level lexicon and 1gram tables); a
  group's raw score is ``Σ S / Σ N + intercept``, i.e. the group_norm DLATK and
  :mod:`psyprofile.features.lexicon` give the concatenated text. ``M[m]``, the occurrences
  of the lexicon's terms (any of the source's categories), gives the *coverage* ``Σ M / Σ N``:
  for a lexicon of single words, the share of the group's words it matched (LIWC's "Dic");
* VADER: the message's compound score (sentence mean, :func:`psyprofile.features.vader.message_scores`),
  averaged over the group's messages;
* zero-shot Big Five: see :mod:`psyprofile.profiles.zeroshot`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from psyprofile.lexica.load import Lexicon
from psyprofile.profiles.spec import VADER_DIMENSION, Dimension, LexiconSource
from psyprofile.store.db import quote_ident


@dataclass
class Messages:
    """The study's messages in (user, time) order: ``users`` sorted ids, ``user[m]`` the
    user index of message ``m``, ``half[m]`` 0/1 alternating within each user (odd/even
    messages), ``words[m]`` its 1gram tokens."""

    ids: np.ndarray
    user: np.ndarray
    half: np.ndarray
    words: np.ndarray
    users: list[str]
    langs: np.ndarray | None = None  # per message its language code ('und' unknown)

    def user_words(self) -> np.ndarray:
        """Words per user, shape (n_users,)."""
        return np.bincount(self.user, weights=self.words, minlength=len(self.users))

    def by_user(self, keep: np.ndarray | None = None) -> np.ndarray:
        """Group index per message: its user (or -1 where ``keep`` (n_users,) is False)."""
        return self.user if keep is None else np.where(keep[self.user], self.user, -1)

    def by_half(self, keep: np.ndarray | None = None) -> np.ndarray:
        """Group index per message: ``2 * user + half`` (or -1 for users not kept)."""
        g = 2 * self.user + self.half
        return g if keep is None else np.where(keep[self.user], g, -1)

    def index(self) -> dict[str, int]:
        return {m: i for i, m in enumerate(self.ids.tolist())}

    def place(self, t: pa.Table) -> np.ndarray:
        """One value per message, shape (n_messages,), from a table of (message_id, value)
        rows; messages without a row (or rows of other messages) give 0."""
        idx = self.index()
        out = np.zeros(len(self.ids))
        for m, v in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True):
            if m in idx:
                out[idx[m]] = v
        return out


def load_messages(con) -> Messages:
    """The study's messages with their word counts (needs the message-level 1grams). Within a
    user, messages are ordered by time and then by the MD5 of their text, never by their keyed
    ids: the halves and the zero-shot sample are then the same in any study of the same posts
    (and in :func:`psyprofile.profiles.person.person_messages`)."""
    t = con.sql(
        "SELECT message_id, user_id, words, lang, (rank - 1) % 2 AS half FROM ("
        "SELECT m.message_id, m.user_id, coalesce(g.words, 0) AS words, "
        "coalesce(m.lang, 'und') AS lang, "
        "row_number() OVER (PARTITION BY m.user_id ORDER BY m.created_at NULLS LAST, "
        "md5(m.text), m.message_id) AS rank FROM messages m LEFT JOIN group_words g "
        "ON g.level = 'message' AND g.group_id = m.message_id) "
        "ORDER BY user_id, half, rank"  # the rank holds the time and digest order: one md5
    ).to_arrow_table()
    users, inv = np.unique(t.column("user_id").to_numpy(zero_copy_only=False).astype(str),
                           return_inverse=True)
    return Messages(t.column("message_id").to_numpy(zero_copy_only=False).astype(str),
                    inv.astype(np.int64), t.column("half").to_numpy().astype(np.int64),
                    t.column("words").to_numpy().astype(np.float64), users.tolist(),
                    t.column("lang").to_numpy(zero_copy_only=False).astype(str))


def _sum_by(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Column sums of ``values`` (n_messages, k) per group, (n, k); -1 rows left out."""
    ok = groups >= 0
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, groups[ok], values[ok])
    return out


class Source:
    """A profile source: its id, its dimensions, and raw scores of message groups."""

    source_id: str
    dimensions: tuple[Dimension, ...]
    msgs: Messages

    def raw(self, groups: np.ndarray, n: int) -> np.ndarray:
        raise NotImplementedError

    def words(self, groups: np.ndarray, n: int) -> np.ndarray:
        """Words each group's score rests on, (n,)."""
        return _sum_by(groups, self.msgs.words[:, None], n)[:, 0]

    def coverage(self, groups: np.ndarray, n: int) -> np.ndarray | None:
        """Share of each group's words the source's lexicon matched, (n,); None if not a lexicon."""
        return None

    def message_effects(self, user: int, dim: int) -> np.ndarray | None:
        """Per message of ``user`` (in :class:`Messages` order) its own score on dimension
        ``dim`` (NaN where it has none), for ``--explain``; None where words explain better."""
        return None


class LexiconScores(Source):
    """A lexicon's dimensions from the message-level lexicon table."""

    def __init__(self, msgs: Messages, source: LexiconSource, set_name: str,
                 intercepts: dict[str, float], S: np.ndarray, M: np.ndarray):
        """``S`` (n_messages, n_dims): per message Σ weight × count of each category's terms;
        ``M`` (n_messages,): occurrences of terms of any of those categories."""
        self.source_id, self.dimensions, self.msgs = source.lexicon, source.dimensions, msgs
        self.set_name, self.lexicon_source = set_name, source
        self.icpt = np.array([intercepts.get(d.category, 0.0) for d in source.dimensions])
        self.S, self.M = S, M

    @classmethod
    def from_study(cls, con, msgs: Messages, source: LexiconSource, lex: Lexicon,
                   intercepts: dict[str, float]) -> LexiconScores:
        """The sums ``S`` read from the study's message-level lexicon table of ``lex`` (the
        source's lexicon, resolved), ``M`` from its message-level 1–3grams."""
        set_name = lex.name
        cats = [d.category for d in source.dimensions]
        icpt = np.array([intercepts.get(c, 0.0) for c in cats])
        from psyprofile.features.store import table_name

        t = con.sql("SELECT group_id, feature, group_norm FROM "
                    f"{quote_ident(table_name(set_name, 'message'))}").to_arrow_table()
        idx = msgs.index()
        rows = np.array([idx.get(g, -1) for g in t.column(0).to_pylist()], dtype=np.int64)
        col_of = {c: i for i, c in enumerate(cats)}
        cols = np.array([col_of.get(f, -1) for f in t.column(1).to_pylist()], dtype=np.int64)
        gn = t.column(2).to_numpy()
        ok = (rows >= 0) & (cols >= 0)
        S = np.zeros((len(msgs.ids), len(cats)))
        # group_norm holds the intercept on top of Σ weight × count / tokens; undo both.
        np.add.at(S, (rows[ok], cols[ok]), (gn[ok] - icpt[cols[ok]]) * msgs.words[rows[ok]])
        return cls(msgs, source, set_name, intercepts, S, matched_counts(con, msgs, source, lex))

    def raw(self, groups: np.ndarray, n: int) -> np.ndarray:
        num = _sum_by(groups, self.S, n)
        den = self.words(groups, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den[:, None] + self.icpt

    def coverage(self, groups: np.ndarray, n: int) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return _sum_by(groups, self.M[:, None], n)[:, 0] / self.words(groups, n)


def matched_counts(con, msgs: Messages, source: LexiconSource, lex: Lexicon) -> np.ndarray:
    """Per message (``msgs`` order) the occurrences of 1–3grams that are terms of the
    source's categories in ``lex``, matched as :mod:`psyprofile.features.lexicon` matches a
    lexicon's feature set (:func:`~psyprofile.features.lexicon.matching_source`, then
    :func:`~psyprofile.features.lexicon.match_terms`)."""
    from psyprofile.features.lexicon import match_terms, matching_source

    cats = [d.category for d in source.dimensions]
    con.register("_lex", lex.entries.filter(pc.is_in(lex.entries.column("category"),
                                                      value_set=pa.array(cats, pa.string()))))
    try:
        src = matching_source(con, lex, "1gram", "message")
        match_terms(con, src)
        t = con.sql(f"SELECT group_id, sum(value) FROM {quote_ident(src)} WHERE lower(feature) "
                    "IN (SELECT word FROM _matched) GROUP BY 1").to_arrow_table()
    finally:
        con.unregister("_lex")
    return msgs.place(t)


class VaderScores(Source):
    """VADER compound per message (cached in ``profile_vader``), averaged per group."""

    source_id = "vader"

    def __init__(self, msgs: Messages, compound: np.ndarray):
        """``compound`` (n_messages,): each message's VADER compound score."""
        self.dimensions, self.msgs, self.compound = (VADER_DIMENSION,), msgs, compound

    @classmethod
    def from_study(cls, con, msgs: Messages, progress: bool = True) -> VaderScores:
        """Compound scores from the study's cache, scoring the messages not in it."""
        return cls(msgs, vader_compound(con, msgs, progress))

    def raw(self, groups: np.ndarray, n: int) -> np.ndarray:
        ones = np.ones((len(groups), 1))
        s = _sum_by(groups, self.compound[:, None], n)
        k = _sum_by(groups, ones, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / k

    def message_effects(self, user: int, dim: int) -> np.ndarray:
        return self.compound[self.msgs.user == user]


def vader_compound(con, msgs: Messages, progress: bool = True) -> np.ndarray:
    """VADER compound of every message in ``msgs`` order, scoring only those not cached
    (on every CPU when there are many: VADER is slow pure Python)."""
    from psyprofile.features.vader import score_texts

    todo = con.execute("SELECT message_id, text FROM messages WHERE message_id NOT IN "
                       "(SELECT message_id FROM profile_vader)").fetchall()
    if todo:
        scores = [s[0] for s in score_texts([t for _, t in todo], progress=progress)]
        con.register("_vader_in", pa.table({"message_id": [m for m, _ in todo], "compound": scores}))
        try:
            con.execute("INSERT INTO profile_vader SELECT * FROM _vader_in")
        finally:
            con.unregister("_vader_in")
    t = con.sql("SELECT message_id, compound FROM profile_vader").to_arrow_table()
    return msgs.place(t)


def compounds(texts: list[str]) -> list[float]:
    """VADER compound of each text, in this process (:func:`psyprofile.features.vader.message_scores`)."""
    from psyprofile.features.vader import score_texts

    return [s[0] for s in score_texts(texts, workers=1, progress=False)]
