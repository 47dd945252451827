"""Differentially private group releases with OpenDP, the noise they carry, and the budget.

A release with total budget ε answers, in each partition (one ``--by`` column over the whole
history, or in one period), one count of users per group and one mean per group and score.
A user sits in one group per partition, so groups compose in parallel, while partitions and
queries compose sequentially: each query gets ε_q = ε / (partitions × (1 + scores)).
Neighbouring datasets add or remove one user.

* Counts: OpenDP's discrete Laplace (``make_laplace`` on integers), sensitivity 1, scale
  1/ε_q, clipped at 0 afterwards (post-processing).
* Means: scores are clamped to finite bounds [lo, hi] fixed in advance and centred on
  c = (lo + hi) / 2, so one user moves the centred sum by at most (hi - lo) / 2; OpenDP's
  Laplace adds noise of scale b = (hi - lo) / (2 ε_q) to that sum, and the mean is
  c + noisy sum / max(noisy count, 1), clamped to [lo, hi]. Dividing by the released noisy
  count is post-processing, so the stated noise scale of the mean, b / max(noisy count, 1),
  reveals nothing beyond the released values (a scale computed from the true count would
  give the count away).
* The noise interval ``ci_lo, ci_hi`` of a DP mean holds the true mean of the clamped
  scores with probability >= 95% over the noise (a union bound over the two Laplace draws,
  2.5% each): half-width (b ln 40 + (hi - lo)/2 × t) / max(ñ, 1) with t = 1 + ln(80)/ε_q
  a bound the count's error exceeds with probability <= 2.5%. It covers the noise only, not sampling error.

Every mechanism is built through OpenDP, which checks that its privacy map gives at most
ε_q for the stated sensitivity; noise comes from OpenDP's cryptographically secure sampler
and is not seeded (a seeded release could be re-derived by anyone holding the seed).
Medians, bootstrap CIs, post counts and comparisons are not released under DP.
Suppression is decided on true counts before noise is added (as statistical offices do),
so that decision is not itself private. Every release appends rows to ``privacy_budget``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cache

import duckdb
import numpy as np
import pandas as pd

from psyprofile.errors import InputError
from psyprofile.store.db import scalar

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
LN40 = math.log(40.0)


@cache
def _opendp():
    from psyprofile.extras import require

    odp = require("opendp.prelude", "dp")

    odp.enable_features("contrib")
    return odp


def _laplace(scale: float, integer: bool, sensitivity: float, epsilon: float):
    """An OpenDP Laplace measurement, checked to spend at most ``epsilon``."""
    odp = _opendp()
    t = int if integer else float
    dom = odp.atom_domain(T=t) if integer else odp.atom_domain(T=float, nan=False)
    meas = odp.m.make_laplace(dom, odp.absolute_distance(T=t), scale=scale)
    spent = meas.map(int(sensitivity) if integer else float(sensitivity))
    if spent > epsilon * (1 + 1e-9):
        raise RuntimeError(f"OpenDP privacy map {spent} exceeds the query's epsilon {epsilon}")
    return meas


def count_scale(epsilon: float) -> float:
    """The noise scale of a count answered with ``epsilon`` (sensitivity 1)."""
    return 1.0 / epsilon


def dp_count(n: int, epsilon: float) -> int:
    """``n`` plus discrete Laplace noise of scale 1/ε (sensitivity 1), clipped at 0."""
    meas = _laplace(count_scale(epsilon), True, 1, epsilon)
    return max(0, int(meas(int(n))))


@dataclass(frozen=True)
class DPMean:
    """A DP mean with its noise: ``scale`` the Laplace scale of the mean's noise and
    ``lo, hi`` the >= 95% noise interval (see the module docstring)."""

    mean: float
    scale: float
    lo: float
    hi: float


def dp_mean(values: np.ndarray, bounds: tuple[float, float], epsilon: float, noisy_n: int,
            count_epsilon: float) -> DPMean:
    """The ε-DP mean of ``values`` clamped to ``bounds``, divided by the released noisy count
    ``noisy_n`` (itself released with ``count_epsilon``)."""
    lo, hi = bounds
    half = (hi - lo) / 2.0
    c = lo + half
    b = half / epsilon
    meas = _laplace(b, False, half, epsilon)
    noisy_sum = float(meas(float(np.sum(np.clip(np.asarray(values, float), lo, hi) - c))))
    denom = max(noisy_n, 1)
    mean = float(np.clip(c + noisy_sum / denom, lo, hi))
    t = 1.0 + math.log(80.0) * count_scale(count_epsilon)  # P(|count error| >= t) <= 2.5%
    width = (b * LN40 + half * t) / denom
    return DPMean(mean, b / denom, max(lo, mean - width), min(hi, mean + width))


def resolve_bounds(dimensions: list[tuple[str, str]],
                   stated: dict[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
    """Bounds per dimension from ``stated`` (by dimension or family name) or the defaults.

    ``dimensions`` is a list of (family, dimension). Raises :class:`InputError` naming the
    dimensions that have no bounds, or bounds that are not finite with lo < hi.
    """
    stated = stated or {}
    out, missing = {}, []
    for fam, dim in dimensions:
        b = stated.get(dim) or stated.get(fam) or DEFAULT_BOUNDS.get(dim)
        if b is None:
            missing.append(dim)
            continue
        lo, hi = float(b[0]), float(b[1])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError(f"DP bounds for '{dim}' must be finite numbers (got {lo}:{hi}): "
                             "noise is scaled to hi - lo, so an infinite range protects no "
                             "one; state the range the score can take, e.g. big5=-3:3.")
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
            (q * self.partitions, "OpenDP discrete Laplace (counts)",
             f"users per group: {self.partitions} partition(s) x eps {q:.6g}"),
            (q * self.partitions * self.scores, "OpenDP Laplace (clamped centred sums)",
             f"group means: {self.partitions} partition(s) x {self.scores} score(s) x eps {q:.6g}"),
        ]


def record_release(con: duckdb.DuckDBPyConnection, run_id: int, plan: BudgetPlan) -> int:
    """Append the release's rows to ``privacy_budget``; returns its release id."""
    release_id = int(scalar(con, "SELECT coalesce(max(release_id), 0) + 1 FROM privacy_budget"))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for eps, mech, what in plan.rows():
        con.execute("INSERT INTO privacy_budget VALUES (?, ?, ?, ?, ?, ?)",
                    [release_id, run_id, now, eps, mech, what])
    return release_id


def read_budget(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every recorded DP release row, with the running total ε in ``total_epsilon``."""
    df = con.execute("SELECT * FROM privacy_budget ORDER BY release_id, mechanism").df()
    df["total_epsilon"] = df["epsilon"].cumsum()
    return df
