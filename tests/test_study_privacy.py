"""psyprofile study: suppression against differencing, raking to margins, DP releases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_study import add_users

from psyprofile.analysis import dp, raking
from psyprofile.analysis.dp import BudgetPlan
from psyprofile.analysis.groups import run_study
from psyprofile.analysis.suppress import Ledger, complement_suppression, round_value
from psyprofile.errors import InputError
from psyprofile.store.db import scalar, table_exists
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
    # only released groups are recorded: totals and residuals follow from them
    assert kinds == [(1, "region", "group", 2), (2, "gender", "group", 1),
                     (2, "region", "group", 1)]


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
    w, trimmed = raking.cap_ratio(raking.rake(lv, margins), 10)
    assert trimmed == r["weights_trimmed"] > 0
    assert w.max() / w.min() <= 10 + 1e-9
    assert r["ess"] == pytest.approx(raking.kish_ess(w), rel=1e-9)
    south = (t["region"] == "south").to_numpy()
    mean = _released(res)[1].set_index("grp").loc["south", "mean"]
    assert mean == round_value(np.average(t["extraversion"][south], weights=w[south]))


def test_dp_release_states_its_noise_and_its_budget(study):
    ws, _ = study
    kw = dict(scores=["extraversion", "age"], dp_epsilon=1.0, dp_bounds={"big5": (1, 5)},
              progress=False)
    a = run_study(ws, ["region"], **kw)
    rel = a.groups[~a.groups["suppressed"]]
    assert rel["dp"].all() and rel[["median", "n_posts"]].isna().all().all()
    assert a.groups[a.groups["suppressed"]][NUMBERS].isna().all().all()
    assert a.comparisons.empty
    ext = rel[rel["score"] == "extraversion"]
    assert ((ext["mean"] >= 1) & (ext["mean"] <= 5)).all()
    # 2 partitions' worth of queries: eps 1 / (1 x (1 + 2 scores)) each; the mean's Laplace
    # scale is (hi - lo) / 2 / eps_q over the released (noisy) count
    q = 1 / 3
    assert ext["n_noise_scale"].to_numpy() == pytest.approx(1 / q)
    assert ext["noise_scale"].to_numpy() == pytest.approx(2 / q / ext["n_users"].clip(lower=1))
    assert ((ext["ci_lo"] <= ext["mean"]) & (ext["mean"] <= ext["ci_hi"])).all()
    with ws.connect() as con:
        stored = con.execute("SELECT noise_scale, n_noise_scale FROM study_groups "
                             "WHERE dp AND NOT suppressed").fetchall()
    assert stored and all(v is not None and v > 0 for row in stored for v in row)
    b = run_study(ws, ["region"], **kw)  # OpenDP noise is not seeded: a new draw
    assert not np.allclose(b.groups["mean"].dropna(), a.groups["mean"].dropna())
    budget = b.budget
    assert budget["release_id"].nunique() == 2
    assert budget.groupby("release_id")["epsilon"].sum().to_numpy() == pytest.approx([1, 1])
    assert budget["total_epsilon"].iloc[-1] == pytest.approx(2.0)
    assert set(budget["mechanism"]) == {"OpenDP discrete Laplace (counts)",
                                        "OpenDP Laplace (clamped centred sums)"}


def test_dp_mean_noise_interval_covers_the_truth():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, 200)
    hits = 0
    for _ in range(200):
        n = dp.dp_count(len(x), 0.5)
        m = dp.dp_mean(x, (0, 10), 0.5, n, 0.5)
        assert m.scale == pytest.approx(5 / 0.5 / max(n, 1))
        hits += m.lo <= x.mean() <= m.hi
    assert hits >= 190  # >= 95% by construction (a union bound, so usually more)


def test_infinite_or_missing_dp_bounds_are_refused(study):
    ws, _ = study
    for b in ((-np.inf, np.inf), (0, np.inf), (np.nan, 1)):
        with pytest.raises(InputError, match=r"DP bounds for 'extraversion' must be finite"):
            run_study(ws, ["region"], scores=["extraversion"], dp_epsilon=1.0,
                      dp_bounds={"big5": b}, progress=False)
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    r = CliRunner().invoke(cli, ["study", str(ws.path), "--by", "region", "--scores", "big5",
                                 "--dp-epsilon", "1", "--dp-bounds", "big5=-inf:inf", "--quiet"])
    assert r.exit_code == 2 and "must be finite" in r.output
    with ws.connect() as con:  # nothing spent
        assert not table_exists(con, "privacy_budget") or not scalar(
            con, "SELECT count(*) FROM privacy_budget")


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
