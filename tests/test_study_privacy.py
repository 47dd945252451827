"""psyprofile study: suppression against differencing, raking to margins, DP releases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_study import JOY, add_users, profiled_study

from psyprofile.analysis import dp, raking, suppress
from psyprofile.analysis.dp import BudgetPlan
from psyprofile.analysis.groups import StudyOptions, run_study
from psyprofile.analysis.suppress import Ledger, complement_suppression, round_value
from psyprofile.errors import InputError
from psyprofile.store.db import quote_ident, scalar, table_exists
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
    res = run_study(ws, StudyOptions(by=["region"], scores=["big5"], period="month"),
                    progress=False)
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
    first = run_study(ws, StudyOptions(by=["region", "gender"], scores=["extraversion"]),
                      progress=False)
    rel1, g1 = _released(first)
    assert rel1 == {"north": True, "south": True, "east": False, "west": False,
                    "f": True, "m": True}
    # three new users join north (without a gender outcome); the study is released again
    new = add_users(ws, tmp_path, {"north": 3}, tag="new", seed=9)
    second = run_study(ws, StudyOptions(by=["region", "gender"], scores=["extraversion"]),
                       progress=False)
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
    first = run_study(ws, StudyOptions(by=["region"], scores=["extraversion"]), progress=False)
    assert not first.groups["suppressed"].any()  # the total of 35 users is now derivable
    late = add_users(ws, tmp_path, {"b": 2}, tag="late", seed=4)
    raw = pd.concat([truth, late])["raw"]
    gender = tmp_path / "g.csv"
    pd.DataFrame({"user_id": raw, "gender": ["f", "m"] * 18 + ["f"]}).to_csv(gender, index=False)
    load_outcomes(ws, gender)
    second = run_study(ws, StudyOptions(by=["region", "gender"], scores=["extraversion"]),
                       progress=False)
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
    res = run_study(ws, StudyOptions(by=["region"], scores=["extraversion"],
                                     poststratify=FIXTURES / "census.csv", strata=["age_bin",
                                                                                   "gender"]),
                    progress=False)
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
    opts = StudyOptions(by=["region"], scores=["extraversion", "age"], dp_epsilon=1.0,
                        dp_bounds={"big5": (1, 5)})
    a = run_study(ws, opts, progress=False)
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
    b = run_study(ws, opts, progress=False)  # OpenDP noise is not seeded: a new draw
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
            run_study(ws, StudyOptions(by=["region"], scores=["extraversion"], dp_epsilon=1.0,
                                       dp_bounds={"big5": b}), progress=False)
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
        run_study(ws, StudyOptions(by=["region"], scores=["big5"], dp_epsilon=1.0), progress=False)
    with pytest.raises(InputError, match="--dp-epsilon releases equally weighted means only"):
        run_study(ws, StudyOptions(by=["region"], scores=["age"], dp_epsilon=1.0, weight_by="posts"),
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


# ---------------------------------------------------------------- attacks on the ledger
# Each attack runs twice: with the audit (it must be refused) and with the audit switched
# off (the same releases must then give the victim's value away: the test would fail).

@pytest.fixture(params=[True, False], ids=["audit", "audit-off"])
def audit(request, monkeypatch):
    monkeypatch.setattr(suppress, "AUDIT", request.param)
    return request.param


def _columns_study(tmp_path, n: int, columns: dict[str, list]) -> tuple[Workspace, pd.DataFrame]:
    """``n`` users in one region with outcome columns ``columns`` (a value per user, None:
    no value), and their true scores."""
    ws = Workspace.create(tmp_path / "s")
    truth = add_users(ws, tmp_path, {"r": n}, seed=11)
    for col, values in columns.items():
        truth[col] = values
    path = tmp_path / "cols.csv"
    truth[["raw", *columns]].rename(columns={"raw": "user_id"}).to_csv(path, index=False)
    load_outcomes(ws, path)
    return ws, truth


def _mean(res, grp, score="extraversion", period=None) -> float:
    g = res.groups
    sel = (g["grp"] == grp) & (g["score"] == score)
    sel &= g["period"].isna() if period is None else g["period"] == period
    assert sel.sum() == 1, (grp, period)
    return float(g[sel]["mean"].iloc[0])


def _gives_away(derived: float, true: float, n_means: int) -> bool:
    """Whether a value derived from rounded means is the true one (within rounding)."""
    return abs(derived - true) <= n_means * 0.005 + 1e-9


def test_two_releases_a_b_then_a_b_plus_one(tmp_path, audit):
    # the attack: --by c1 gives a and b (10 each); --by c2 gives a + b + x (21)
    c1 = ["a"] * 10 + ["b"] * 10 + ["c"] * 11
    c2 = ["big"] * 21 + ["rest"] * 10
    ws, truth = _columns_study(tmp_path, 31, {"c1": c1, "c2": c2})
    r1 = run_study(ws, StudyOptions(by=["c1"], scores=["extraversion"]), progress=False)
    r2 = run_study(ws, StudyOptions(by=["c2"], scores=["extraversion"]), progress=False)
    x = truth["extraversion"].iloc[20]
    derived = 21 * _mean(r2, "big") - 10 * _mean(r1, "a") - 10 * _mean(r1, "b")
    if audit:
        assert np.isnan(derived) and r2.groups["suppressed"].all()
        assert r2.groups[NUMBERS].isna().all().all()
    else:
        assert _gives_away(derived, x, 41)


def test_three_releases_each_harmless_in_pairs(tmp_path, audit):
    # a, not-a; b, not-b; a + b + x, rest: every two sets differ by >= 10 users
    n = 41
    idx = np.arange(n)
    c1 = np.where(idx < 10, "a", "not_a").tolist()
    c2 = np.where((idx >= 10) & (idx < 20), "b", "not_b").tolist()
    c3 = np.where(idx <= 20, "big", "rest").tolist()
    ws, truth = _columns_study(tmp_path, n, {"c1": c1, "c2": c2, "c3": c3})
    r1 = run_study(ws, StudyOptions(by=["c1"], scores=["extraversion"]), progress=False)
    r2 = run_study(ws, StudyOptions(by=["c2"], scores=["extraversion"]), progress=False)
    r3 = run_study(ws, StudyOptions(by=["c3"], scores=["extraversion"]), progress=False)
    assert not r1.groups["suppressed"].any() and not r2.groups["suppressed"].any()
    derived = 21 * _mean(r3, "big") - 10 * _mean(r1, "a") - 10 * _mean(r2, "b")
    if audit:
        assert np.isnan(derived)
    else:
        assert _gives_away(derived, truth["extraversion"].iloc[20], 41)


def test_nested_groups_city_within_region(tmp_path, audit):
    # y and z have no city; their region is city1 + city2 + {y, z}
    n = 45
    city = ["c1"] * 10 + ["c2"] * 12 + [None, None] + ["c4"] * 21
    region = ["R1"] * 24 + ["R2"] * 21
    ws, truth = _columns_study(tmp_path, n, {"city": city, "region2": region})
    res = run_study(ws, StudyOptions(by=["city", "region2"], scores=["extraversion"]),
                    progress=False)
    derived = (24 * _mean(res, "R1") - 10 * _mean(res, "c1") - 12 * _mean(res, "c2")) / 2
    if audit:
        assert np.isnan(derived)
        assert not np.isnan(_mean(res, "R2"))  # R2 is city c4: nothing new, released
    else:
        assert _gives_away(derived, truth["extraversion"].iloc[22:24].mean(), 46 / 2)


def test_nested_groups_whose_difference_a_third_column_splits(tmp_path, audit):
    # as above, but gender puts y and z in different elementary sets: only their union
    # (2 users) is derivable, which the audit finds as a union of two atoms
    n = 45
    city = ["c1"] * 10 + ["c2"] * 12 + [None, None] + ["c4"] * 21
    region = ["R1"] * 24 + ["R2"] * 21
    gender = (["f", "m"] * 23)[:n]
    ws, truth = _columns_study(tmp_path, n, {"city": city, "region2": region, "sex": gender})
    run_study(ws, StudyOptions(by=["sex"], scores=["extraversion"]), progress=False)
    r_city = run_study(ws, StudyOptions(by=["city"], scores=["extraversion"]), progress=False)
    r_reg = run_study(ws, StudyOptions(by=["region2"], scores=["extraversion"]), progress=False)
    derived = (24 * _mean(r_reg, "R1") - 10 * _mean(r_city, "c1")
               - 12 * _mean(r_city, "c2")) / 2
    if audit:
        assert np.isnan(derived)
    else:
        assert _gives_away(derived, truth["extraversion"].iloc[22:24].mean(), 46 / 2)


def test_period_release_against_whole_history_releases(tmp_path, audit):
    # a, b, x post only in January, so their January score is their whole-history score;
    # f posts only in February. Release 1: whole history by c1 (a, b, x + f);
    # release 2: c2 by month, whose January group is a + b + x.
    def posts(i, month):
        words = " ".join(["walk"] * (i % 5))
        return [(f"2024-{month}-0{1 + i % 8} 10:00:00", f"{JOY} {words}")]

    users = ([{"user": f"a{i}", "region": "r", "posts": posts(i, "01")} for i in range(10)]
             + [{"user": f"b{i}", "region": "r", "posts": posts(i + 2, "01")} for i in range(10)]
             + [{"user": "x", "region": "r",
                 "posts": [("2024-01-09 10:00:00", "happy happy glad smile")]}]
             + [{"user": f"f{i}", "region": "r", "posts": posts(i, "02")} for i in range(10)])
    ws = profiled_study(tmp_path / "s", users)
    raw = [u["user"] for u in users]
    c1 = [u[0] if u[0] in "ab" else "o" for u in raw]
    pd.DataFrame({"user_id": raw, "c1": c1, "c2": "big"}).to_csv(tmp_path / "c.csv",
                                                                  index=False)
    load_outcomes(ws, tmp_path / "c.csv")
    kw = dict(scores=["joy"], min_period_words=3)
    r1 = run_study(ws, StudyOptions(by=["c1"], **kw), progress=False)
    r2 = run_study(ws, StudyOptions(by=["c2"], period="month", **kw), progress=False)
    jan = _mean(r2, "big", "joy", "2024-01")
    derived = 21 * jan - 10 * _mean(r1, "a", "joy") - 10 * _mean(r1, "b", "joy")
    if audit:
        assert np.isnan(derived)
    else:
        assert _gives_away(derived, 1.0, 41)  # x's joy: 4 of 4 words


def test_weighted_group_counts_by_its_effective_size(study, tmp_path):
    ws, truth = study
    # one north user gets weight 1, the other 11 north users 1e-12: "12 users" would show
    # that one user's scores; south users are weighted 1..2
    w = np.where(truth["region"] == "north", 1e-12, 1.0 + (np.arange(len(truth)) % 2))
    w[truth.index[truth["region"] == "north"][0]] = 1.0
    wfile = tmp_path / "w.csv"
    pd.DataFrame({"user_id": truth["raw"], "weight": w}).to_csv(wfile, index=False)
    for ratio in (1e15, 10.0):  # untrimmed, and trimmed to a ratio of 10
        res = run_study(ws, StudyOptions(by=["region"], scores=["extraversion"], weights=wfile,
                                         max_weight_ratio=ratio), progress=False)
        rel, g = _released(res)
        north = g.set_index("grp").loc["north"]
        assert not rel["north"] and np.isnan(north["mean"]) and np.isnan(north["median"])
        assert rel["south"]  # 15 users weighted 1 or 2: effective size 13.9 >= 10
    assert res.results["weights_trimmed"] == 11


def test_min_users_is_a_floor_unless_overridden_and_recorded(study):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    ws, _ = study
    with pytest.raises(InputError, match=r"--min-users 2 is below the study's min_group_size "
                                         r"10 .* --allow-smaller-groups"):
        run_study(ws, StudyOptions(by=["region"], scores=["extraversion"], min_users=2),
                  progress=False)
    r = CliRunner().invoke(cli, ["study", str(ws.path), "--by", "region", "--scores",
                                 "extraversion", "--min-users", "3", "--allow-smaller-groups",
                                 "--quiet"])
    assert r.exit_code == 0, r.output
    assert ("OVERRIDE: --allow-smaller-groups lowered the minimum group size from the "
            "study's 10 to 3") in r.output
    res = run_study(ws, StudyOptions(by=["region"], scores=["extraversion"], min_users=12),
                    progress=False)
    assert res.params["allow_smaller_groups"] is False and res.params["min_users"] == 12
    with ws.connect() as con:
        params = [json.loads(p) for (p,) in con.execute(
            "SELECT params FROM study_runs ORDER BY run_id").fetchall()]
    assert [(p["min_users"], p["allow_smaller_groups"]) for p in params] == [(3, True),
                                                                           (12, False)]


def test_a_failed_out_records_nothing(study, tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    ws, _ = study
    args = ["study", str(ws.path), "--by", "region", "--scores", "age", "--dp-epsilon", "1",
            "--quiet"]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "missing" / "g.csv")])
    assert r.exit_code == 2 and "--out folder" in r.output and "does not exist" in r.output
    # a write that fails after the numbers are computed (a folder where the file should be)
    (tmp_path / "taken.csv").mkdir()
    with pytest.raises(InputError, match=r"taken.csv: cannot write --out"):
        run_study(ws, StudyOptions(by=["region"], scores=["age"], dp_epsilon=1.0),
                  out=tmp_path / "taken.csv", progress=False)
    with ws.connect() as con:
        for table in ("study_runs", "study_releases", "released_sets", "privacy_budget"):
            assert not table_exists(con, table) or not scalar(
                con, f"SELECT count(*) FROM {quote_ident(table)}"), table
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "g.csv")])
    assert r.exit_code == 0, r.output
    assert "noise scale" in r.output and "discrete Laplace noise of scale" in r.output
    df = pd.read_csv(tmp_path / "g.csv")
    assert {"noise_scale", "n_noise_scale"} <= set(df.columns)
    assert df.loc[~df["suppressed"], "noise_scale"].notna().all()
    with ws.connect() as con:
        assert scalar(con, "SELECT count(*) FROM study_runs") == 1
        assert scalar(con, "SELECT count(DISTINCT release_id) FROM privacy_budget") == 1


# ---------------------------------------------------------------- the audit itself

def test_audit_finds_determined_atoms_and_small_unions_only():
    from psyprofile.analysis.audit import pinned_sets

    a, b = frozenset(range(10)), frozenset(range(10, 20))
    # a, b and a + b + x: x is determined
    assert pinned_sets([a, b, a | b | {20}], 10) == {frozenset({20})}
    # the difference {40, 41} is split by f/m into two atoms: found as a union of two
    r1 = a | b | {40, 41}
    f, m = frozenset(range(0, 100, 2)), frozenset(range(1, 100, 2))
    assert pinned_sets([a, b, r1, f, m], 10) == {frozenset({40, 41})}
    # three atoms: {40}, {41}, {42} split by two more columns
    r2 = a | b | {40, 41, 42}
    g = frozenset(range(0, 100, 3))
    assert pinned_sets([a, b, r2, f, m, g], 10) == {frozenset({40, 41, 42})}
    # crossed partitions of 1,000 users into cells of about 7: nothing is derivable
    rng = np.random.default_rng(0)
    cols = [rng.integers(0, n, 1000) for n in (5, 4, 6, 3, 8, 2, 7)]
    sets = [frozenset(np.flatnonzero(c == v).tolist()) for c in cols for v in np.unique(c)]
    assert pinned_sets(sets, 10) == set()
    # a small set determined through a chain of releases pins nothing of k users or more
    big = frozenset(range(30))
    assert pinned_sets([big, big - set(range(12))], 10) == set()


def test_a_large_release_withholds_only_the_group_close_to_a_released_one(monkeypatch):
    """Over GREEDY_MAX groups, the group that differs from a released set by one element is
    withheld in one step (few rank audits), the same groups the greedy repair keeps."""
    def release(greedy_max: int) -> tuple[set[str], int]:
        monkeypatch.setattr(suppress, "GREEDY_MAX", greedy_max)
        def users(r: range) -> frozenset[str]:
            return frozenset(f"u{i}" for i in r)

        led = Ledger(3)
        led.decide("r", None, "s", {"a": users(range(10)), "b": users(range(10, 20))})
        audits = led.audits
        groups = {"near": users(range(9))}  # a minus one user
        groups |= {f"g{j}": users(range(100 + 3 * j, 103 + 3 * j)) for j in range(29)}
        return led.decide("c", None, "s", groups), led.audits - audits

    big, big_audits = release(suppress.GREEDY_MAX)
    small, small_audits = release(100)
    assert big == small == {"near"}
    assert big_audits < small_audits
