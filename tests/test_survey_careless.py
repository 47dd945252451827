"""Careless-responding flags on crafted respondents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from psyprofile.survey.careless import careless_flags, even_odd, longstring
from psyprofile.survey.inventories import load_inventory


def test_longstring_counts_runs_and_missing_breaks_them():
    df = pd.DataFrame([[1, 1, np.nan, 1, 1, 1, 2], [3, 3, 3, 3, 3, 3, 3], [1, 2, 1, 2, 1, 2, 1],
                       [np.nan] * 7])
    assert longstring(df).tolist() == [3, 7, 1, 0]


def _attentive(inv_name: str, levels: dict[str, int]) -> list[float]:
    """Answers of someone whose keyed answer to every item of a trait is that trait's level."""
    inv = load_inventory(inv_name)
    return [levels[i.trait] if i.key > 0 else 6 - levels[i.trait] for i in inv.items]


def test_crafted_respondents_ipip50():
    inv = load_inventory("ipip50")
    levels = {"openness": 4, "conscientiousness": 2, "extraversion": 5, "agreeableness": 3,
              "neuroticism": 1}
    attentive = _attentive("ipip50", levels)
    straight = [3] * 50
    # Odd-numbered items of each trait answered as its level, even-numbered ones as the mirror
    # image: the two halves disagree perfectly across traits (r = -1).
    split = []
    seen: dict[str, int] = {}
    for item in inv.items:
        n = seen[item.trait] = seen.get(item.trait, 0) + 1
        level = levels[item.trait] if n % 2 else 6 - levels[item.trait]
        split.append(level if item.key > 0 else 6 - level)
    df = pd.DataFrame([attentive, straight, split], index=["attentive", "straight", "split"],
                      columns=[i.id for i in inv.items])
    flags = careless_flags(inv, df)
    assert flags.at["attentive", "even_odd"] == pytest.approx(1.0)
    assert not flags.at["attentive", "careless"]
    # The straight-liner: a run of 50, and no even-odd index (the half means do not vary).
    assert flags.at["straight", "longstring"] == 50 and np.isnan(flags.at["straight", "even_odd"])
    assert flags.at["straight", "flag_longstring"] and not flags.at["straight", "flag_even_odd"]
    assert flags.at["split", "even_odd"] == -1.0
    assert flags.at["split", "flag_even_odd"] and flags.at["split", "careless"]
    # Thresholds are options: a long-string cut-off above 50 clears the straight-liner.
    assert not careless_flags(inv, df, longstring_min=51).at["straight", "careless"]


def test_even_odd_uses_facets_for_ipipneo120_and_needs_three_subscales():
    inv = load_inventory("ipipneo120")
    rng = np.random.default_rng(0)
    facet_level = {f: int(rng.integers(1, 6)) for f in {i.facet for i in inv.items}}
    answers = [facet_level[i.facet] if i.key > 0 else 6 - facet_level[i.facet] for i in inv.items]
    df = pd.DataFrame([answers], columns=[i.id for i in inv.items])
    # Facet levels vary within traits: with facets as subscales the halves agree exactly.
    assert even_odd(inv, df).iloc[0] == pytest.approx(1.0)
    mini = load_inventory("mini-ipip")
    only_two = pd.DataFrame([[np.nan] * 20], columns=[i.id for i in mini.items])
    # Items 1-7 answered: only extraversion and agreeableness have an even-numbered item.
    only_two.iloc[0, :7] = [5, 4, 2, 1, 5, 1, 2]
    assert np.isnan(even_odd(mini, only_two).iloc[0])


def test_random_responders_are_mostly_flagged_and_attentive_rarely():
    inv = load_inventory("ipipneo120")
    rng = np.random.default_rng(1)
    cols = [i.id for i in inv.items]
    random = pd.DataFrame(rng.integers(1, 6, size=(200, 120)), columns=cols).astype(float)
    facet_mu = rng.normal(size=(200, 30))
    facets = sorted({i.facet for i in inv.items})
    rows = []
    for p in range(200):
        lv = {f: facet_mu[p, j] for j, f in enumerate(facets)}
        rows.append([np.clip(np.round(3 + 1.2 * i.key * lv[i.facet] + rng.normal(scale=0.7)), 1, 5)
                     for i in inv.items])
    attentive = pd.DataFrame(rows, columns=cols)
    assert careless_flags(inv, random)["flag_even_odd"].mean() > 0.8
    assert careless_flags(inv, attentive)["flag_even_odd"].mean() < 0.05
