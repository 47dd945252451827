"""psyprofile study: suppression against differencing, raking to margins, DP releases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_study import add_users

from psyprofile.analysis import raking
from psyprofile.analysis.dp import BudgetPlan
from psyprofile.analysis.groups import run_study
from psyprofile.analysis.suppress import Ledger, complement_suppression
from psyprofile.errors import InputError
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "study"
NUMBERS = ["n_users", "n_posts", "mean", "median", "ci_lo", "ci_hi"]


@pytest.fixture
def study(tmp_path):
    ws = Workspace.create(tmp_path / "study")
    truth = add_users(ws, tmp_path, {"north": 12, "south": 15, "east": 3, "west": 11})
    return ws, truth


def _released(res, score="extraversion", period=None):
    g = res.groups
    g = g[(g["score"] == score) & (g["period"].isna() if period is None else g["period"] == period)]
    return dict(zip(g["grp"], ~g["suppressed"], strict=True)), g


def test_small_group_and_its_complement_are_suppressed_with_no_numbers(study, tmp_path):
    ws, truth = study
    res = run_study(ws, ["region"], scores=["big5"], period="month", progress=False)
    rel, g = _released(res)
    # east has 3 users; west (11) is withheld too, else total - north - south - west = east
    assert rel == {"north": True, "south": True, "east": False, "west": False}
    sup = res.groups[res.groups["suppressed"]]
    assert len(sup) > 0 and sup[NUMBERS].isna().all().all()
    compared = set(res.comparisons["group_a"]) | set(res.comparisons["group_b"].dropna())
    assert compared == {"north", "south"}
    with ws.connect() as con:
        stored = con.execute("SELECT n_users, n_posts, mean, median, ci_lo, ci_hi FROM "
                             "study_groups WHERE suppressed").fetchall()
        assert stored and all(v is None for row in stored for v in row)
        assert con.execute("SELECT n_users FROM study_runs").fetchall() == [(41,)]
    # in every partition the suppressed groups hold 0 or >= 10 users
    for (_, period, score), part in res.groups.groupby(["by", "period", "score"], dropna=False):
        hidden = truth[truth["region"].isin(part.loc[part["suppressed"], "grp"])]
        assert len(hidden) == 0 or len(hidden) >= 10, (period, score)


def test_complement_rule_adds_the_next_smallest_groups():
    sizes = {"a": 2, "b": 3, "c": 4, "d": 50, "e": 60}
    assert complement_suppression(sizes, {"a"}, 10) == {"a", "b", "c", "d"}
    assert complement_suppression(sizes, set(), 10) == set()
    assert complement_suppression({"a": 2, "b": 3}, {"a"}, 10) == {"a", "b"}


def test_two_releases_that_differ_by_a_few_users_reveal_nothing(study, tmp_path):
    ws, truth = study
    gender = tmp_path / "gender.csv"
    truth["gender"] = ["f", "m"] * 20 + ["f"]
    truth[["raw", "gender"]].rename(columns={"raw": "user_id"}).to_csv(gender, index=False)
    load_outcomes(ws, gender)
    first = run_study(ws, ["region", "gender"], scores=["extraversion"], progress=False)
    rel1, g1 = _released(first)
    assert rel1 == {"north": True, "south": True, "east": False, "west": False,
                    "f": True, "m": True}
    # three new users join north (without a gender outcome); the study is released again
    new = add_users(ws, tmp_path, {"north": 3}, tag="new", seed=9)
    second = run_study(ws, ["region", "gender"], scores=["extraversion"], progress=False)
    rel2, g2 = _released(second)
    mean2 = g2.set_index("grp")["mean"]
    # north differs from the released north by 3 users: withheld, so north2 - north1 is unknown
    assert not rel2["north"] and np.isnan(mean2["north"])
    # west was withheld to protect east; releasing it now would give
    # east = (f + m, the total) - north - south - west
    assert not rel2["west"] and np.isnan(mean2["west"]) and not rel2["east"]
    assert rel2["f"] and rel2["m"] and rel2["south"]
    assert g2[g2["suppressed"]][NUMBERS].isna().all().all()
    # every pair of user sets released by the two runs differs by 0 or >= 10 users
    both = pd.concat([truth, new.assign(gender=None)])
    sets = []
    for rel, users in ((rel1, truth), (rel2, both)):
        for col in ("region", "gender"):
            sets += [frozenset(users.loc[users[col] == g, "user_id"])
                     for g in users[col].dropna().unique() if rel[g]]
    assert all(len(a ^ b) == 0 or len(a ^ b) >= 10 for a in sets for b in sets)


def test_a_fully_released_partition_whose_total_moved_by_a_few_users_is_withheld(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    truth = add_users(ws, tmp_path, {"a": 15, "b": 20})
    first = run_study(ws, ["region"], scores=["extraversion"], progress=False)
    assert not first.groups["suppressed"].any()  # the total of 35 users is now derivable
    late = add_users(ws, tmp_path, {"b": 2}, tag="late", seed=4)
    raw = pd.concat([truth, late])["raw"]
    gender = tmp_path / "g.csv"
    pd.DataFrame({"user_id": raw, "gender": ["f", "m"] * 18 + ["f"]}).to_csv(gender, index=False)
    load_outcomes(ws, gender)
    second = run_study(ws, ["region", "gender"], scores=["extraversion"], progress=False)
    rel, _ = _released(second)
    # b moved by 2 users; a did not
    assert rel["a"] and not rel["b"]
    # f (19) and m (18) are new sets, but released in full they would give the sum over all
    # 37 users while the first run's total covers 35 of them: the smaller one is withheld
    assert rel["f"] and not rel["m"]
    with ws.connect() as con:
        kinds = con.execute("SELECT run_id, \"by\", kind, count(*) FROM study_releases "
                            "GROUP BY ALL ORDER BY ALL").fetchall()
    assert kinds == [(1, "region", "group", 2), (1, "region", "total", 1),
                     (2, "gender", "group", 1), (2, "gender", "residual", 1),
                     (2, "region", "group", 1),
                     (2, "region", "residual", 1)]


def test_ledger_refuses_sets_close_to_released_ones():
    led = Ledger(k=5)
    first = {"g": frozenset(map(str, range(20))), "h": frozenset(map(str, range(20, 40)))}
    assert led.decide("col", None, "x", first) == set()
    near = {"g": frozenset(map(str, range(22))), "h": frozenset(map(str, range(22, 40)))}
    assert led.decide("col", None, "x", near) == {"g", "h"}
    # another score has its own history
    assert led.decide("col", None, "y", near) == set()


def test_raking_reproduces_known_margins():
    rng = np.random.default_rng(0)
    n = 500
    levels = pd.DataFrame({"age_bin": rng.choice(["13-17", "18-29", "30+"], n, p=[.6, .3, .1]),
                           "gender": rng.choice(["female", "male"], n, p=[.7, .3])})
    margins = {"age_bin": {"13-17": 0.2, "18-29": 0.5, "30+": 0.3},
               "gender": {"female": 0.51, "male": 0.49}}
    for base in (None, rng.uniform(0.5, 2, n)):
        w = raking.rake(levels, margins, base)
        assert w.mean() == pytest.approx(1)
        for s, shares in margins.items():
            got = pd.Series(w).groupby(levels[s].to_numpy()).sum() / w.sum()
            assert got.to_dict() == pytest.approx(shares, abs=1e-9)
    assert raking.kish_ess(np.ones(10)) == 10
    assert raking.kish_ess(np.array([1.0, 3.0])) == pytest.approx(16 / 10)
    with pytest.raises(InputError, match=r"no users in level\(s\) 30\+ of stratum 'age_bin'"):
        raking.rake(levels[levels["age_bin"] != "30+"], margins)


def test_margins_file_shape_and_errors(tmp_path):
    m = raking.read_margins(FIXTURES / "census.csv", ["age_bin", "gender"])
    assert m["gender"] == pytest.approx({"female": 0.51, "male": 0.49})
    assert sum(m["age_bin"].values()) == pytest.approx(1)
    with pytest.raises(InputError, match=r"no margins for strata region; strata in the file: "
                                         r"age_bin, gender"):
        raking.read_margins(FIXTURES / "census.csv", ["region"])
    bad = tmp_path / "bad.csv"
    bad.write_text("stratum,level,share\ngender,female,lots\n")
    with pytest.raises(InputError, match=r"bad.csv, row 2: share 'lots' is not a number"):
        raking.read_margins(bad, ["gender"])


def test_poststratified_study_uses_known_gender_and_estimated_age(study, tmp_path):
    ws, truth = study
    gender = tmp_path / "gender.csv"
    labels = ["F", "M", "F"] * 13 + ["M", "F"]
    pd.DataFrame({"user_id": truth["raw"], "gender": labels}).to_csv(gender, index=False)
    load_outcomes(ws, gender)
    res = run_study(ws, ["region"], scores=["extraversion"], poststratify=FIXTURES / "census.csv",
                    strata=["age_bin", "gender"], progress=False)
    r = res.results
    assert r["strata_known"] == {"age_bin": 0, "gender": 41}
    assert r["strata_estimated"] == {"age_bin": 41, "gender": 0}
    # the same weights by hand: age from the profile estimate, gender from the outcome
    margins = raking.read_margins(FIXTURES / "census.csv", ["age_bin", "gender"])
    t = truth.assign(gender=labels).sort_values("user_id")
    bins = pd.cut(t["age"], [-np.inf, 18, 30, np.inf], right=False,
                  labels=["13-17", "18-29", "30+"]).astype(str)
    lv = pd.DataFrame({"age_bin": bins.to_numpy(),
                       "gender": t["gender"].map({"F": "female", "M": "male"}).to_numpy()})
    w = raking.rake(lv, margins)
    assert r["ess"] == pytest.approx(raking.kish_ess(w), rel=1e-9)
    south = (t["region"] == "south").to_numpy()
    mean = _released(res)[1].set_index("grp").loc["south", "mean"]
    assert mean == pytest.approx(np.average(t["extraversion"][south], weights=w[south]),
                                 abs=1e-9)


def test_dp_release_is_reproducible_and_its_budget_accounted(study):
    ws, _ = study
    kw = dict(scores=["extraversion", "age"], dp_epsilon=1.0, dp_bounds={"big5": (1, 5)},
              seed=7, progress=False)
    a = run_study(ws, ["region"], **kw)
    b = run_study(ws, ["region"], **kw)
    cols = ["grp", "score", "n_users", "mean", "suppressed", "dp"]
    pd.testing.assert_frame_equal(a.groups[cols], b.groups[cols])
    rel = a.groups[~a.groups["suppressed"]]
    assert rel["dp"].all() and rel[["median", "ci_lo", "ci_hi", "n_posts"]].isna().all().all()
    assert a.groups[a.groups["suppressed"]][NUMBERS].isna().all().all()
    assert a.comparisons.empty
    ext = rel[rel["score"] == "extraversion"]["mean"]
    assert ((ext >= 1) & (ext <= 5)).all()
    c = run_study(ws, ["region"], **{**kw, "seed": 8})
    assert not np.allclose(c.groups["mean"].dropna(), a.groups["mean"].dropna())
    budget = c.budget
    assert budget["release_id"].nunique() == 3
    assert budget.groupby("release_id")["epsilon"].sum().to_numpy() == pytest.approx([1, 1, 1])
    assert budget["total_epsilon"].iloc[-1] == pytest.approx(3.0)
    assert set(budget["run_id"]) == {a.run_id, b.run_id, c.run_id}


def test_dp_split_and_bounds_errors(study):
    plan = BudgetPlan(epsilon=2.0, partitions=2, scores=3)
    assert plan.per_query == pytest.approx(2.0 / 8)
    assert sum(eps for eps, _, _ in plan.rows()) == pytest.approx(2.0)
    ws, _ = study
    with pytest.raises(InputError, match=r"state them for extraversion, neuroticism with "
                                         r"--dp-bounds NAME=LO:HI"):
        run_study(ws, ["region"], scores=["big5"], dp_epsilon=1.0, progress=False)
    with pytest.raises(InputError, match="--dp-epsilon releases equally weighted means only"):
        run_study(ws, ["region"], scores=["age"], dp_epsilon=1.0, weight_by="posts",
                  progress=False)


def test_cli_reports_ess_and_privacy_budget(study, tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    ws, truth = study
    gender = tmp_path / "gender.csv"
    pd.DataFrame({"user_id": truth["raw"], "gender": ["f", "m"] * 20 + ["f"]}).to_csv(
        gender, index=False)
    load_outcomes(ws, gender)
    r = CliRunner().invoke(cli, ["study", str(ws.path), "--by", "region", "--scores", "age",
                                 "--poststratify", str(FIXTURES / "census.csv"), "--strata",
                                 "age_bin,gender", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "weights: 41 users, Kish effective sample size" in r.output
    assert "strata levels known/estimated: {'age_bin': 0, 'gender': 41} / " in r.output
    for _ in range(2):
        r = CliRunner().invoke(cli, ["study", str(ws.path), "--by", "region", "--scores",
                                     "age,big5", "--dp-epsilon", "0.5", "--dp-bounds",
                                     "big5=0:6", "--seed", "3", "--quiet"])
        assert r.exit_code == 0, r.output
    assert "differentially private" in r.output
    assert "this release used epsilon 0.5" in r.output
    assert "the study's running total is 1 over 2 release(s)" in r.output
    bad = CliRunner().invoke(cli, ["study", str(ws.path), "--by", "region", "--dp-epsilon",
                                   "1", "--dp-bounds", "big5", "--quiet"])
    assert bad.exit_code == 2 and "--dp-bounds 'big5': write NAME=LO:HI" in bad.output
