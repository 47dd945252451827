"""Differentially private group releases with IBM's diffprivlib, and the privacy budget.

A release with total budget ε answers, in each partition (one ``--by`` column over the whole
history, or in one period), one count of users per group and one mean per group and score.
A user sits in one group per partition, so groups compose in parallel, while partitions and
queries compose sequentially: each query gets ε / (partitions × (1 + scores)). Counts use the
geometric mechanism (sensitivity 1, clipped at 0 afterwards); means use diffprivlib's
``tools.mean`` on scores clamped to stated bounds (sensitivity (hi - lo) / n with n public:
bounded DP, where a neighbouring dataset changes one user's scores). Medians, CIs and post
counts are not released under DP, and group comparisons are not computed. Suppression is
decided on true counts before noise is added (as statistical offices do), so that decision
is not itself private. Every release appends rows to ``privacy_budget``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from psyprofile.errors import InputError
from psyprofile.store.db import scalar

_DDL = """CREATE TABLE IF NOT EXISTS privacy_budget (release_id INTEGER, run_id INTEGER,
    created_at TIMESTAMP, epsilon DOUBLE, mechanism VARCHAR, what VARCHAR)"""

# Bounds a dimension's values are clamped to when none are stated: only scales fixed by
# definition (years of age, probabilities, VADER's compound score, the 1..9 affect and
# intensity ratings); z-scored and lexicon-weight scores need stated bounds.
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "age": (13.0, 80.0),
    "gender_female": (0.0, 1.0),
    "vader_compound": (-1.0, 1.0),
    "affect": (1.0, 9.0),
    "intensity": (1.0, 9.0),
}


def _diffprivlib():
    """diffprivlib, importable with scikit-learn >= 1.8.

    diffprivlib 0.6.6 imports ``DOUBLE`` and ``DTYPE`` from ``sklearn.tree._tree`` (for its
    random forests, unused here), which scikit-learn 1.8 dropped; they were float64/float32.
    """
    import sklearn.tree._tree as tree

    for name, dtype in (("DOUBLE", np.float64), ("DTYPE", np.float32)):
        if not hasattr(tree, name):
            setattr(tree, name, dtype)
    import diffprivlib

    return diffprivlib


def random_state(seed: int, *key: object) -> int:
    """A 32-bit seed for one query, fixed by the run seed and the query's key."""
    h = hashlib.blake2b("\x00".join(map(str, (seed, *key))).encode(), digest_size=4)
    return int.from_bytes(h.digest(), "little")


def dp_count(n: int, epsilon: float, seed: int) -> int:
    """``n`` plus geometric noise for ε (sensitivity 1), clipped at 0."""
    mech = _diffprivlib().mechanisms.Geometric(epsilon=epsilon, sensitivity=1, random_state=seed)
    return max(0, int(mech.randomise(int(n))))


def dp_mean(values: np.ndarray, bounds: tuple[float, float], epsilon: float, seed: int) -> float:
    """The ε-DP mean of ``values`` clamped to ``bounds`` (diffprivlib ``tools.mean``)."""
    dpl = _diffprivlib()
    lo, hi = bounds
    clamped = np.clip(np.asarray(values, float), lo, hi)
    return float(dpl.tools.mean(clamped, epsilon=epsilon, bounds=(lo, hi), random_state=seed))


def resolve_bounds(dimensions: list[tuple[str, str]],
                   stated: dict[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
    """Bounds per dimension from ``stated`` (by dimension or family name) or the defaults.

    ``dimensions`` is a list of (family, dimension). Raises :class:`InputError` naming the
    dimensions that have no bounds.
    """
    stated = stated or {}
    out, missing = {}, []
    for fam, dim in dimensions:
        b = stated.get(dim) or stated.get(fam) or DEFAULT_BOUNDS.get(dim)
        if b is None:
            missing.append(dim)
            continue
        lo, hi = float(b[0]), float(b[1])
        if not lo < hi:
            raise InputError(f"DP bounds for '{dim}' must have lo < hi (got {lo}, {hi}).")
        out[dim] = (lo, hi)
    if missing:
        raise InputError(
            "differential privacy clamps each score to bounds fixed in advance; state them for "
            f"{', '.join(missing)} with --dp-bounds NAME=LO:HI (a dimension or family name)."
        )
    return out


@dataclass
class BudgetPlan:
    """How a release's ε is split."""

    epsilon: float
    partitions: int
    scores: int

    @property
    def per_query(self) -> float:
        return self.epsilon / (self.partitions * (1 + self.scores))

    def rows(self) -> list[tuple[float, str, str]]:
        """(ε, mechanism, what) rows for ``privacy_budget``; their ε sum to the release's ε."""
        q = self.per_query
        return [
            (q * self.partitions, "diffprivlib Geometric (counts)",
             f"users per group: {self.partitions} partition(s) x eps {q:.6g}"),
            (q * self.partitions * self.scores, "diffprivlib tools.mean (Laplace, bounded)",
             f"group means: {self.partitions} partition(s) x {self.scores} score(s) x eps {q:.6g}"),
        ]


def record_release(con: duckdb.DuckDBPyConnection, run_id: int, plan: BudgetPlan) -> int:
    """Append the release's rows to ``privacy_budget``; returns its release id."""
    con.execute(_DDL)
    release_id = int(scalar(con, "SELECT coalesce(max(release_id), 0) + 1 FROM privacy_budget"))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for eps, mech, what in plan.rows():
        con.execute("INSERT INTO privacy_budget VALUES (?, ?, ?, ?, ?, ?)",
                    [release_id, run_id, now, eps, mech, what])
    return release_id


def read_budget(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every recorded DP release row, with the running total ε in ``total_epsilon``."""
    con.execute(_DDL)
    df = con.execute("SELECT * FROM privacy_budget ORDER BY release_id, mechanism").df()
    df["total_epsilon"] = df["epsilon"].cumsum()
    return df
