"""Careless-responding indices: long-string and even-odd consistency (Johnson, 2005).

Long-string
    The longest run of identical consecutive answers, in the inventory's published item order
    and on the raw (not reverse-keyed) answers; an unanswered item breaks a run. Flagged when
    the run is at least ``longstring_min`` items (default 10: in all three IPIP inventories ten
    consecutive items cover every trait twice, mostly with opposite keys, so an attentive
    respondent rarely gives the same answer ten times in a row).
Even-odd consistency
    For each subscale (the 30 facets of the IPIP-NEO-120, the five traits otherwise), the mean
    of its odd-numbered and of its even-numbered keyed items (numbered within the subscale);
    the two vectors of half means are correlated across subscales and Spearman–Brown
    corrected, 2r / (1 + r). Attentive respondents answer the two halves alike (high values);
    random answering gives values near 0. Flagged below ``even_odd_min`` (default 0.30, the
    usual cut-off after Johnson, 2005). Undefined (NaN, never flagged) when fewer than three
    subscales have both halves answered or the half means do not vary (e.g. straight-lining,
    which long-string catches); clipped at -1 below.

Johnson, J. A. (2005). Ascertaining the validity of individual protocols from web-based
personality inventories. Journal of Research in Personality, 39(1), 103–129.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psyprofile.survey.inventories import Inventory
from psyprofile.survey.scoring import keyed

LONGSTRING_MIN = 10
EVEN_ODD_MIN = 0.30


def longstring(responses: pd.DataFrame) -> pd.Series:
    """Longest run of identical consecutive answers per respondent (columns in item order)."""
    x = responses.to_numpy(dtype=float)
    n, k = x.shape
    best = np.zeros(n, dtype=int)
    run = np.zeros(n, dtype=int)
    for j in range(k):
        answered = ~np.isnan(x[:, j])
        same = answered & (x[:, j] == x[:, j - 1]) if j else np.zeros(n, dtype=bool)
        run = np.where(same, run + 1, answered.astype(int))
        best = np.maximum(best, run)
    return pd.Series(best, index=responses.index, name="longstring")


def _subscales(inv: Inventory) -> list[list[str]]:
    """Item ids per subscale: facets when the inventory has them, else traits."""
    groups: dict[str, list[str]] = {}
    for item in inv.items:
        groups.setdefault(item.facet or item.trait, []).append(item.id)
    return list(groups.values())


def even_odd(inv: Inventory, responses: pd.DataFrame) -> pd.Series:
    """Spearman–Brown corrected even-odd consistency per respondent (NaN when undefined)."""
    k = keyed(inv, responses)
    odd, even = [], []
    for ids in _subscales(inv):
        odd.append(k[ids[0::2]].mean(axis=1).to_numpy())
        even.append(k[ids[1::2]].mean(axis=1).to_numpy())
    a, b = np.column_stack(odd), np.column_stack(even)
    out = np.full(len(k), np.nan)
    for i in range(len(k)):
        ok = ~np.isnan(a[i]) & ~np.isnan(b[i])
        if ok.sum() < 3 or np.std(a[i, ok]) == 0 or np.std(b[i, ok]) == 0:
            continue
        r = np.corrcoef(a[i, ok], b[i, ok])[0, 1]
        # Spearman–Brown is unbounded below as r -> -1; clip so the index stays in [-1, 1].
        out[i] = max(2 * r / (1 + r), -1.0) if r > -1 else -1.0
    return pd.Series(out, index=responses.index, name="even_odd")


def careless_flags(inv: Inventory, responses: pd.DataFrame, *,
                   longstring_min: int = LONGSTRING_MIN,
                   even_odd_min: float = EVEN_ODD_MIN) -> pd.DataFrame:
    """Per respondent: ``longstring``, ``even_odd``, ``flag_longstring``, ``flag_even_odd``, ``careless``."""
    ls = longstring(responses[[i.id for i in inv.items]])
    eo = even_odd(inv, responses)
    out = pd.DataFrame({"longstring": ls, "even_odd": eo})
    out["flag_longstring"] = out["longstring"] >= longstring_min
    out["flag_even_odd"] = out["even_odd"] < even_odd_min  # NaN compares False: never flagged
    out["careless"] = out["flag_longstring"] | out["flag_even_odd"]
    return out
