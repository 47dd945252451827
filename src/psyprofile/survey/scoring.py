"""Scoring an inventory: reverse keying and the missing-item rule.

Input everywhere is a respondents × items float matrix (``pandas.DataFrame`` whose columns are
item ids, values on the inventory's 1..5 scale, NaN for an unanswered item).

Missing-item rule: a scale score is the mean of the keyed answers to the scale's items
(prorated mean, on the 1..5 scale) when at most ``max_missing`` of its items are unanswered,
and missing (NaN) otherwise. The default allows 20% of a scale's items, rounded down
(IPIP-50: 2 of 10; Mini-IPIP: 0 of 4; IPIP-NEO-120: 4 of 24).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psyprofile.survey.inventories import Inventory


def default_max_missing(n_items: int) -> int:
    """Unanswered items a scale of ``n_items`` may have and still be scored (20%, rounded down)."""
    return int(np.floor(0.2 * n_items + 1e-9))


def keyed(inv: Inventory, responses: pd.DataFrame) -> pd.DataFrame:
    """``responses`` with reverse-keyed items flipped (``min + max - x``); NaN stays NaN."""
    out = responses.astype(float).copy()
    for item in inv.items:
        if item.key < 0:
            out[item.id] = inv.reverse(out[item.id])
    return out


def score_traits(inv: Inventory, responses: pd.DataFrame,
                 max_missing: int | None = None) -> pd.DataFrame:
    """Trait scores, respondents × traits, as prorated means on the response scale.

    ``max_missing`` is the number of unanswered items a scale may have (default: 20% of the
    scale's items); with more missing the respondent's score for that trait is NaN.
    """
    k = keyed(inv, responses)
    scores = {}
    for trait in inv.traits:
        ids = [i.id for i in inv.items_of(trait)]
        allowed = default_max_missing(len(ids)) if max_missing is None else max_missing
        block = k[ids]
        mean = block.mean(axis=1, skipna=True)
        scores[trait] = mean.where(block.isna().sum(axis=1) <= allowed)
    return pd.DataFrame(scores, index=responses.index)
