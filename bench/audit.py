"""Bench: cost of the release audit (analysis.suppress + analysis.audit) for a study of 1,000
users with 50 earlier releases.

Synthetic study: 1,000 users, 8 grouping columns of 2 to 8 groups, 12 months in which each
user is active with probability 0.4 (users active in one month only have the same value in
that month as over their whole history, so their period and whole-history values share one
ledger element, as in ``analysis.groups``). Users join over time: release ``r`` covers the
first 800 + 4r users, so later releases often differ from earlier ones by a few users and
the audit has work to do. A release is one column over the whole history, or (every third)
one column by month; 5 scores each. The 50 earlier releases go through the same production
path (``Ledger.decide_all``, as ``analysis.groups`` calls it); then release 51 (a column over the whole history and by month:
13 partitions x 5 scores) is timed: with the audit, and with it switched off
(primary and complement rules only, the reference measured in the same run).

Run from the repo root: ``nice -n 10 python bench/audit.py``. Writes ``bench/out/audit.json``.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import write_results  # noqa: E402
from psyprofile.analysis import suppress  # noqa: E402
from psyprofile.analysis.suppress import Ledger, Partition  # noqa: E402

N_USERS, N_EARLIER, K = 1000, 50, 10
SCORES = ["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def synthetic(seed: int = 0):
    rng = np.random.default_rng(seed)
    columns = [rng.integers(0, g, N_USERS) for g in (2, 3, 4, 5, 6, 7, 8, 4)]
    active = rng.random((N_USERS, len(MONTHS))) < 0.4
    single = active.sum(axis=1) == 1
    return columns, active, single


def partitions(r: int, columns, active, single) -> list[tuple[str | None, dict[str, frozenset]]]:
    """The partitions (period, group -> elements) of release ``r``."""
    n = min(N_USERS, 800 + 4 * r)
    col = columns[r % len(columns)]
    users = np.arange(n)
    out = [(None, {f"g{v}": frozenset(f"u{u}" for u in users[col[:n] == v])
                   for v in np.unique(col[:n])})]
    if r % 3 == 0 or r >= N_EARLIER:
        for m, month in enumerate(MONTHS):
            on = users[active[:n, m]]
            el = {u: f"u{u}" if single[u] else f"u{u}@{month}" for u in on}
            out.append((month, {f"g{v}": frozenset(el[u] for u in on[col[on] == v])
                                for v in np.unique(col[on])}))
    return out


def release(led: Ledger, r: int, data) -> tuple[float, int]:
    """Decide release ``r`` for every score; (seconds, groups suppressed)."""
    parts = [Partition(f"c{r % 8}", per, score, groups)
             for per, groups in partitions(r, *data) for score in SCORES]
    t0 = time.perf_counter()
    hidden = sum(len(out) for out in led.decide_all(parts))
    return time.perf_counter() - t0, hidden


def main() -> None:
    data = synthetic()
    led = Ledger(K)
    earlier = [release(led, r, data)[0] for r in range(N_EARLIER)]
    sets = len({sid for sids in led._released.values() for sid in sids})
    before = copy.deepcopy(led)  # release 51 is decided twice from the same ledger state
    timed = {}
    for audit in (True, False):
        led = copy.deepcopy(before)
        suppress.AUDIT = audit
        seconds, hidden = release(led, N_EARLIER, data)
        timed[audit] = {"seconds": seconds, "suppressed": hidden, "audits": led.audits}
    suppress.AUDIT = True
    figures = {
        "users": N_USERS, "earlier_releases": N_EARLIER, "k": K, "scores": len(SCORES),
        "distinct_released_sets": sets,
        "earlier_release_seconds_mean": float(np.mean(earlier)),
        "earlier_release_seconds_max": float(np.max(earlier)),
        "release_51_seconds_audit": timed[True]["seconds"],
        "release_51_seconds_no_audit": timed[False]["seconds"],
        "release_51_ratio_audit_vs_no_audit": timed[True]["seconds"] / timed[False]["seconds"],
        "release_51_suppressed_audit": timed[True]["suppressed"],
        "release_51_suppressed_no_audit": timed[False]["suppressed"],
        "rank_audits": timed[True]["audits"],
    }
    for k, v in figures.items():
        print(f"{k:40} {v:.4g}" if isinstance(v, float) else f"{k:40} {v}")
    print(f"wrote {write_results('audit', figures)}")


if __name__ == "__main__":
    main()
