"""Small-group suppression that survives differencing, within a release and across releases.

Four rules decide which groups of one partition (one ``--by`` column in one period, for one
score) are released; every other group is shown as suppressed, never as a number:

1. *Primary*: a group with fewer than ``k`` users is suppressed.
2. *Ledger*: a group whose user set differs by 1..k-1 users from a set that was released
   or made derivable before for the same score (in this workspace, by any earlier run or
   earlier in this run) is suppressed, since the difference would describe those few users.
   Derivable sets are the released groups, the total of a fully released partition, and the
   union of a partition's suppressed groups (its total minus the released groups), so a
   group withheld to protect a small one stays withheld while that one stays small.
3. *Complement*: the suppressed groups of a partition together hold either no users or at
   least ``k``; otherwise the next smallest released group is suppressed too, so that "the
   partition's total minus the released groups" (a total can be derived from any other fully
   released partition) describes at least ``k`` users, never one small group.
4. *Totals*: a partition that would be released in full, whose total differs from a
   derivable set by 1..k-1 users (e.g. the same study re-run after adding a few users),
   gets its smallest group suppressed, and then rule 3.

The ledger is kept in the workspace: ``released_sets(set_id, n_users)``,
``released_set_members(set_id, user_id)`` and ``study_releases(run_id, by, grp, period,
score, kind, set_id)`` with ``kind`` 'group', 'total' or 'residual' (``grp`` NULL for the
last two); ``set_id`` is a hash of the sorted user ids, so identical sets are stored once.
Limit: the ledger compares sets in pairs; sums of three or more released sets that together
isolate a few users (e.g. nested columns such as city within region) are not audited.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable

import duckdb
import pandas as pd

from psyprofile.store.db import scalar

_DDL = """
CREATE TABLE IF NOT EXISTS released_sets (set_id VARCHAR PRIMARY KEY, n_users BIGINT);
CREATE TABLE IF NOT EXISTS released_set_members (set_id VARCHAR, user_id VARCHAR);
CREATE TABLE IF NOT EXISTS study_releases (run_id INTEGER, "by" VARCHAR, grp VARCHAR,
    period VARCHAR, score VARCHAR, kind VARCHAR, set_id VARCHAR);
"""


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


class Ledger:
    """User sets already released, to refuse a new set that differs from one by < k users."""

    def __init__(self, k: int):
        self.k = k
        self.sets: dict[str, frozenset[str]] = {}
        # score -> user -> ids of the sets released for that score which hold the user
        self._by_user: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._scored: set[tuple[str, str]] = set()
        # by, grp, period, score, kind, set id of the sets this run releases or makes derivable
        self.new: list[tuple[str, str | None, str | None, str, str, str]] = []

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, k: int) -> Ledger:
        """The workspace's ledger (empty when nothing was released yet)."""
        con.execute(_DDL)
        led = cls(k)
        rows = con.execute("SELECT set_id, user_id FROM released_set_members").fetchall()
        members: dict[str, set[str]] = defaultdict(set)
        for sid, uid in rows:
            members[sid].add(uid)
        for score, sid in con.execute("SELECT DISTINCT score, set_id FROM study_releases "
                                      "ORDER BY ALL").fetchall():
            led._add(score, sid, frozenset(members[sid]))
        return led

    def _add(self, score: str, sid: str, users: frozenset[str]) -> None:
        self.sets[sid] = users
        if (score, sid) in self._scored:
            return
        self._scored.add((score, sid))
        index = self._by_user[score]
        for u in users:
            index[u].append(sid)

    def conflicts(self, score: str, users: frozenset[str]) -> bool:
        """True if ``users`` differs from a set released for ``score`` by 1..k-1 users."""
        index = self._by_user[score]
        overlap = Counter(sid for u in users for sid in index.get(u, ()))
        for sid, common in overlap.items():
            diff = len(users) + len(self.sets[sid]) - 2 * common
            if 0 < diff < self.k:
                return True
        return False

    def decide(self, by: str, period: str | None, score: str,
               groups: dict[str, frozenset[str]]) -> set[str]:
        """The suppressed groups of one partition; records the released ones in the ledger."""
        sizes = {g: len(u) for g, u in groups.items()}
        out = {g for g, n in sizes.items() if n < self.k}
        out |= {g for g, u in groups.items() if g not in out and self.conflicts(score, u)}
        out = complement_suppression(sizes, out, self.k)
        total = frozenset().union(*groups.values())
        if groups and not out and self.conflicts(score, total):
            out = complement_suppression(sizes, {min(sizes, key=lambda g: (sizes[g], g))}, self.k)
        for g in sorted(set(groups) - out):
            self._record(by, g, period, score, "group", groups[g])
        if out:
            self._record(by, None, period, score, "residual",
                         frozenset().union(*(groups[g] for g in out)))
        elif groups:
            self._record(by, None, period, score, "total", total)
        return out

    def _record(self, by: str, grp: str | None, period: str | None, score: str, kind: str,
                users: frozenset[str]) -> None:
        sid = set_id(users)
        self._add(score, sid, users)
        self.new.append((by, grp, period, score, kind, sid))

    def store(self, con: duckdb.DuckDBPyConnection, run_id: int) -> None:
        """Write this run's released sets (call inside the run's transaction)."""
        con.execute(_DDL)
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
    con.execute(_DDL)
    return int(scalar(con, "SELECT count(*) FROM released_sets") or 0)
