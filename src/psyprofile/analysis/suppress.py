"""Small-group suppression that survives differencing, within a release and across releases.

The groups of one partition (one ``--by`` column in one period, for one score) are released
by these rules; every other group is shown as suppressed, never as a number:

1. *Primary*: a group with fewer than ``k`` users (or, when weighted, an effective sample
   size under ``k``) is suppressed.
2. *Complement*: the suppressed groups of a partition together hold either no users or at
   least ``k``; otherwise the next smallest released group is suppressed too, so that "the
   partition's total minus the released groups" never describes one small group, whatever
   total is released later.
3. *Audit*: the released groups, together with every group released before for the same
   score in this workspace (the ledger), must not make the sum over any set of 1..k-1
   users derivable by linear combination (:mod:`psyprofile.analysis.audit`). If they
   would, groups are withheld, largest first kept, until the release passes.

The ledger is kept in the workspace: ``released_sets(set_id, n_users)``,
``released_set_members(set_id, user_id)`` and ``study_releases(run_id, by, grp, period,
score, kind, set_id)`` with ``kind`` 'group' (earlier versions also wrote 'total' and
'residual' rows, which are ignored); ``set_id`` is a hash of the sorted members, so
identical sets are stored once. Members are user ids, or ``user@period`` for per-period
scores (see :class:`Ledger`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from psyprofile.analysis.audit import SetIndex, pinned_sets
from psyprofile.store.db import scalar

# The audit of rule 3; tests turn it off to show that the attacks they stage would succeed.
AUDIT = True
# Up to this many groups a failing release is repaired group by group (keeps the most).
GREEDY_MAX = 24

def set_id(users: Iterable[str]) -> str:
    """A stable id of a user set: a hash of its sorted members."""
    h = hashlib.blake2b(digest_size=16)
    for u in sorted(users):
        h.update(u.encode() + b"\x00")
    return h.hexdigest()


def complement_suppression(sizes: dict[str, int], suppressed: set[str], k: int) -> set[str]:
    """Grow ``suppressed`` until its groups hold 0 or >= ``k`` users (rule 3).

    ``sizes`` maps group -> users. The next smallest released group is added (ties: by name)
    so that as much as possible stays released.
    """
    out = set(suppressed)
    released = sorted((n, g) for g, n in sizes.items() if g not in out)
    while 0 < sum(sizes[g] for g in out) < k and released:
        out.add(released.pop(0)[1])
    return out


@dataclass
class Partition:
    """One partition of a release: its column, period and score, its groups (group ->
    member elements) and the groups to suppress as if they had fewer than k users (an
    effective sample size under k)."""

    by: str
    period: str | None
    score: str
    groups: dict[str, frozenset[str]]
    small: set[str] = field(default_factory=set)


class Ledger:
    """Every member set released from the study, per score, and the audit of new releases.

    Sets are of *elements*: a user id for a whole-history value, or ``user@period`` for the
    value of a user scored on the posts of one period (a user whose posts all fall in that
    period has the same value in both, so the caller names it by the user id alone).
    """

    def __init__(self, k: int):
        self.k = k
        self.sets: dict[str, frozenset[str]] = {}
        self._released: dict[str, list[str]] = defaultdict(list)  # score -> set ids
        # by, grp, period, score, kind, set id of the sets this run releases
        self.new: list[tuple[str, str | None, str | None, str, str, str]] = []
        self._pinned: dict[frozenset[str], set[frozenset[str]]] = {}
        # the index of the last history audited (only that one is kept), and per set id
        # whether it is close to a set of that history
        self._history: frozenset[str] | None = None
        self._index = SetIndex([])
        self._near: dict[str, bool] = {}
        self.seconds = 0.0  # time spent auditing, for the bench and the report
        self.audits = 0

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, k: int) -> Ledger:
        """The workspace's ledger (empty when nothing was released yet).

        Only released groups are read: totals and residuals recorded by earlier versions
        are sums of released groups or were never released.
        """
        led = cls(k)
        members: dict[str, set[str]] = defaultdict(set)
        for sid, uid in con.execute("SELECT set_id, user_id FROM released_set_members "
                                    "WHERE set_id IN (SELECT set_id FROM study_releases "
                                    "WHERE kind = 'group')").fetchall():
            members[sid].add(uid)
        for score, sid in con.execute("SELECT DISTINCT score, set_id FROM study_releases "
                                      "WHERE kind = 'group' ORDER BY ALL").fetchall():
            led._add(score, sid, frozenset(members[sid]))
        return led

    def _add(self, score: str, sid: str, users: frozenset[str]) -> None:
        self.sets[sid] = users
        if sid not in self._released[score]:
            self._released[score].append(sid)

    def _pins(self, ids: frozenset[str]) -> set[frozenset[str]]:
        """Small sets pinned by releasing the sets ``ids`` together (cached: scores with the
        same members share their history)."""
        if ids not in self._pinned:
            t0 = time.perf_counter()
            self._pinned[ids] = pinned_sets([self.sets[s] for s in sorted(ids)], self.k)
            self.seconds += time.perf_counter() - t0
            self.audits += 1
        return self._pinned[ids]

    def risks(self, score: str,
              users: list[frozenset[str]]) -> tuple[set[str], set[frozenset[str]]]:
        """What releasing sums over ``users`` besides everything released for ``score``
        would newly give away: the ids of new sets that differ from a released (or another
        new) set by 1..k-1 elements, and the new small sets that follow by linear
        combination (pinned now, not before). Both empty: the release is safe."""
        before = frozenset(self._released[score])
        ids = set(before)
        for u in users:
            sid = set_id(u)
            self.sets.setdefault(sid, u)
            ids.add(sid)
        fresh = sorted(ids - before)
        if not fresh:
            return set(), set()
        t0 = time.perf_counter()
        if before != self._history:
            self._history = before
            self._index = SetIndex([self.sets[s] for s in sorted(before)])
            self._near = {}
        for sid in fresh:
            if sid not in self._near:
                self._near[sid] = bool(self._index.near([self.sets[sid]], self.k))
        near = {sid for sid in fresh if self._near[sid]}
        among = SetIndex([self.sets[s] for s in fresh])
        near |= {sid for sid in fresh if among.near([self.sets[sid]], self.k)}
        self.seconds += time.perf_counter() - t0
        if near:
            return near, set()
        return near, self._pins(frozenset(ids)) - self._pins(before)

    def safe(self, score: str, users: list[frozenset[str]]) -> bool:
        """Whether releasing sums over ``users`` gives nothing away (see :meth:`risks`)."""
        near, pins = self.risks(score, users)
        return not near and not pins

    def decide(self, by: str, period: str | None, score: str,
               groups: dict[str, frozenset[str]], small: Iterable[str] = ()) -> set[str]:
        """The suppressed groups of one partition (see :meth:`decide_all`)."""
        return self.decide_all([Partition(by, period, score, groups, set(small))])[0]

    def decide_all(self, parts: list[Partition]) -> list[set[str]]:
        """The suppressed groups of each partition of one release; records the released
        ones in the ledger.

        Rules 1 and 2 per partition, then the audit of all of a score's partitions at once
        (one rank audit in the common, safe case). When the release would give something
        away and has at most :data:`GREEDY_MAX` groups left, groups are kept one by one while
        the release stays safe (:meth:`_greedy`); a larger release withholds every group
        holding an element of a newly pinned set (or close to a released set) and is
        audited again, until it passes (greedy when no group holds one). A
        withheld group has >= k users, so the suppressed groups of a partition keep holding
        0 or >= k users.
        """
        outs = []
        for p in parts:
            sizes = {g: len(u) for g, u in p.groups.items()}
            out = {g for g, n in sizes.items() if n < self.k} | p.small
            outs.append(complement_suppression(sizes, out, self.k))
        for score in dict.fromkeys(p.score for p in parts):
            mine = [i for i, p in enumerate(parts) if p.score == score]
            cand = {i: sorted(set(parts[i].groups) - outs[i],
                              key=lambda g, i=i: (-len(parts[i].groups[g]), g)) for i in mine}
            if not AUDIT:
                continue
            while True:
                live = [(i, g) for i in mine for g in cand[i]]
                near, pins = self.risks(score, [parts[i].groups[g] for i, g in live])
                if not near and not pins:
                    break
                exposed = frozenset().union(*pins)
                culprits = [(i, g) for i, g in live if set_id(parts[i].groups[g]) in near
                            or not exposed.isdisjoint(parts[i].groups[g])]
                # a small release keeps as much as it can (one audit per group); a large
                # one withholds every group holding what would be given away, a few audits
                if len(live) <= GREEDY_MAX or not culprits:
                    self._greedy(score, parts, mine, cand, outs)
                    break
                for i, g in culprits:
                    outs[i].add(g)
                    cand[i].remove(g)
        for p, out in zip(parts, outs, strict=True):
            for g in sorted(set(p.groups) - out):
                self._record(p.by, g, p.period, p.score, "group", p.groups[g])
        return outs

    def _greedy(self, score: str, parts: list[Partition], mine: list[int],
                cand: dict[int, list[str]], outs: list[set[str]]) -> None:
        """Partitions added in order and, within a partition that fails, its groups largest
        first, each kept only if the release stays safe."""
        kept: list[frozenset[str]] = []
        for i in mine:
            whole = [parts[i].groups[g] for g in cand[i]]
            if self.safe(score, kept + whole):
                kept += whole
                continue
            for g in cand[i]:
                if self.safe(score, [*kept, parts[i].groups[g]]):
                    kept.append(parts[i].groups[g])
                else:
                    outs[i].add(g)

    def _record(self, by: str, grp: str | None, period: str | None, score: str, kind: str,
                users: frozenset[str]) -> None:
        sid = set_id(users)
        self._add(score, sid, users)
        self.new.append((by, grp, period, score, kind, sid))

    def store(self, con: duckdb.DuckDBPyConnection, run_id: int) -> None:
        """Write this run's released sets (call inside the run's transaction)."""
        if not self.new:
            return
        rel = pd.DataFrame(self.new, columns=["by", "grp", "period", "score", "kind", "set_id"])
        rel.insert(0, "run_id", run_id)
        con.register("_new_rel", rel)
        con.execute("INSERT INTO study_releases SELECT run_id, \"by\", grp, period, score, kind, "
                    "set_id FROM _new_rel")
        con.unregister("_new_rel")
        known = {r[0] for r in con.execute("SELECT set_id FROM released_sets").fetchall()}
        fresh = sorted({sid for *_, sid in self.new} - known)
        if not fresh:
            return
        members = pd.DataFrame(
            [(sid, u) for sid in fresh for u in sorted(self.sets[sid])],
            columns=["set_id", "user_id"],
        )
        sizes = pd.DataFrame({"set_id": fresh, "n_users": [len(self.sets[s]) for s in fresh]})
        con.register("_new_sets", sizes)
        con.register("_new_members", members)
        con.execute("INSERT INTO released_sets SELECT * FROM _new_sets")
        con.execute("INSERT INTO released_set_members SELECT * FROM _new_members")
        con.unregister("_new_sets")
        con.unregister("_new_members")


def released_set_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many distinct user sets the workspace has released (0 before any study)."""
    return int(scalar(con, "SELECT count(*) FROM released_sets") or 0)


def round_value(x: float | None, sig: int = 3) -> float | None:
    """``x`` to ``sig`` significant digits (23.46 -> 23.5, 0.001234 -> 0.00123); None/NaN
    unchanged.

    Released non-DP numbers carry no more precision than a report needs, so sums recovered
    by differencing releases that the audit cannot see are off by up to n × 0.5% of the
    value. The precision is relative, not a fixed number of decimals, because scores come in
    very different units: a fixed two decimals would print every lexicon share (about 0.001)
    as 0.
    """
    if x is None or not math.isfinite(x) or x == 0:
        return x
    return float(round(x, sig - 1 - math.floor(math.log10(abs(x)))))
