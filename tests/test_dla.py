"""Differential language analysis: estimates against statsmodels/scipy, exclusions, storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from psyprofile.analysis.dla import correct_p, logit_effects, ols_effects, run_dla, zscore
from psyprofile.errors import PsyprofileError
from psyprofile.features.store import write_features, write_group_words
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace


def _data(n=150, f=40, k=2, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(n, k))
    X = rng.poisson(0.7, size=(n, f)) * rng.uniform(0.5, 2, size=f)  # sparse-ish counts
    X[:, 0] += 0.8 * C[:, 0]  # a feature correlated with a control
    y = 0.4 * X[:, 1] - 0.3 * X[:, 2] + C @ rng.normal(size=k) + rng.normal(size=n)
    return X, y, C


def _sm_ols(x, y, C=None):
    """statsmodels' coefficient and p; the CI is Fisher's z interval of the partial
    correlation (from the residuals on the controls), carried to the coefficient's scale."""
    cols = [zscore(x)] + ([] if C is None else [zscore(C)])
    fit = sm.OLS(zscore(y), sm.add_constant(np.column_stack(cols))).fit()
    Z = np.ones((len(y), 1)) if C is None else sm.add_constant(zscore(C))
    rx = zscore(x) - Z @ np.linalg.lstsq(Z, zscore(x), rcond=None)[0]
    ry = zscore(y) - Z @ np.linalg.lstsq(Z, zscore(y), rcond=None)[0]
    r = np.corrcoef(rx, ry)[0, 1]
    k = 0 if C is None else C.shape[1]
    half = 1.959963984540054 / np.sqrt(len(y) - k - 3)
    scale = fit.params[1] / r
    lo, hi = sorted([np.tanh(np.arctanh(r) - half) * scale, np.tanh(np.arctanh(r) + half) * scale])
    return fit.params[1], lo, hi, fit.pvalues[1]


@pytest.mark.parametrize("with_controls", [False, True])
def test_ols_matches_statsmodels(with_controls):
    X, y, C = _data()
    eff = ols_effects(X, y, C if with_controls else None)
    for j in (0, 1, 2, 7, 39):
        coef, lo, hi, p = _sm_ols(X[:, j], y, C if with_controls else None)
        assert eff.coef[j] == pytest.approx(coef, abs=1e-8)
        assert eff.ci_lo[j] == pytest.approx(lo, abs=1e-8)
        assert eff.ci_hi[j] == pytest.approx(hi, abs=1e-8)
        assert eff.p[j] == pytest.approx(p, abs=1e-8, rel=1e-8)


def test_ols_without_controls_is_pearson_r():
    X, y, _ = _data(seed=3)
    eff = ols_effects(X, y)
    for j in range(X.shape[1]):
        r, p = stats.pearsonr(X[:, j], y)
        assert eff.coef[j] == pytest.approx(r, abs=1e-10)
        assert eff.p[j] == pytest.approx(p, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("with_controls", [False, True])
def test_logit_matches_statsmodels(with_controls):
    X, y, C = _data(n=300, seed=5)
    yb = (y > np.median(y)).astype(float)
    Cc = C if with_controls else None
    eff, failed = logit_effects(X, yb, Cc)
    assert not failed.any()
    for j in (0, 1, 2, 11):
        cols = [zscore(X[:, j])] + ([] if Cc is None else [zscore(Cc)])
        fit = sm.Logit(yb, sm.add_constant(np.column_stack(cols))).fit(disp=False, tol=1e-12)
        ci = fit.conf_int()
        assert eff.coef[j] == pytest.approx(fit.params[1], abs=1e-6)
        assert eff.ci_lo[j] == pytest.approx(ci[1, 0], abs=1e-6)
        assert eff.ci_hi[j] == pytest.approx(ci[1, 1], abs=1e-6)
        assert eff.p[j] == pytest.approx(fit.pvalues[1], abs=1e-6)


def test_logit_separation_is_flagged_not_fatal():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(50), np.ones(50)]
    good = rng.normal(size=100) + y
    separated = y * 2.0 + rng.uniform(0, 0.5, size=100)  # every 1 above every 0
    quasi = np.zeros(100)
    quasi[[60, 70, 80]] = 0.01  # a rare word used only by three users coded 1
    eff, failed = logit_effects(np.column_stack([good, separated, quasi]), y)
    assert failed.tolist() == [False, True, True]
    assert np.isfinite(eff.coef[0]) and np.isnan(eff.coef[1:]).all() and np.isnan(eff.p[1:]).all()


def test_logit_skewed_feature_is_estimated_not_flagged():
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.5).astype(float)
    x = np.where(rng.random(400) < 0.1, rng.gamma(1, 1, 400), 0.0)
    # one heavy user, 20 SD out and fitted with p = 1 - 5e-17, in a class the others overlap
    x[np.flatnonzero(y == 1)[0]] = 150.0
    eff, failed = logit_effects(x[:, None], y)
    fit = sm.Logit(y, sm.add_constant(zscore(x))).fit(disp=False, tol=1e-12)
    assert not failed[0]
    assert eff.coef[0] == pytest.approx(fit.params[1], abs=1e-6)
    assert eff.p[0] == pytest.approx(fit.pvalues[1], abs=1e-6)


def test_bh_equals_statsmodels_and_nan_counts_as_a_test():
    p = np.array([0.001, 0.02, 0.04, 0.3, np.nan, 0.0004])
    got = correct_p(p, "bh")
    ref = multipletests(np.nan_to_num(p, nan=1.0), method="fdr_bh")[1]
    np.testing.assert_allclose(got[~np.isnan(p)], ref[~np.isnan(p)], rtol=1e-12)
    assert np.isnan(got[4])
    np.testing.assert_allclose(correct_p(p[:4], "bonferroni"), np.minimum(p[:4] * 4, 1))
    np.testing.assert_array_equal(correct_p(p[:4], "none"), p[:4])
    with pytest.raises(PsyprofileError, match="unknown correction 'holm'"):
        correct_p(p, "holm")


# --- run_dla on a small study --------------------------------------------------------------

N_USERS = 60


def _study(tmp_path, seed=0):
    """A study of 60 users: 'words' features (w0..w9, w9 constant), 'topics' (t0..t2),
    outcomes age (2 missing), female (binary text), score (1 missing), ctl."""
    rng = np.random.default_rng(seed)
    ws = Workspace.create(tmp_path / "study")
    raw = [f"u{i:03d}" for i in range(N_USERS)]
    pseudo = ws.pseudonymizer("user")
    ids = [pseudo(u) for u in raw]
    age = rng.uniform(15, 45, N_USERS).round(1)
    female = rng.integers(0, 2, N_USERS)
    ctl = rng.normal(size=N_USERS)
    words = np.full(N_USERS, 800)
    words[:5] = 100  # below the 500-word minimum
    X = rng.gamma(1.0, 0.01, size=(N_USERS, 10))
    X[:, 0] += 0.002 * age  # goes with age
    X[:, 1] += 0.01 * female
    X[rng.random((N_USERS, 10)) < 0.3] = 0.0  # sparse, like ngrams
    X[:, 9] = 0.5  # constant
    X[:, 8] = 0.0
    X[10:13, 8] = 0.01  # used by 3 users only: removed by a 10% occurrence filter
    T = rng.normal(size=(N_USERS, 3)) * 0.1
    out = pd.DataFrame({"user_id": raw, "age": age, "female": np.where(female, "yes", "no"),
                        "score": rng.normal(size=N_USERS), "ctl": ctl})
    out.loc[[7, 9], "age"] = np.nan
    out.loc[[11], "score"] = np.nan
    out.loc[[13], "ctl"] = np.nan
    out.to_csv(tmp_path / "outcomes.csv", index=False)

    def long(M, prefix):
        r, c = np.nonzero(M)
        return pd.DataFrame({"group_id": np.array(ids)[r], "feature": [f"{prefix}{j}" for j in c],
                             "value": M[r, c] * 1000, "group_norm": M[r, c]})

    with ws.connect() as con:
        write_features(con, "words", "user", long(X, "w"), kind="ngram")
        write_features(con, "topics", "user", long(T, "t"), kind="lexicon")
        write_group_words(con, "user",
                          pd.DataFrame({"group_id": ids, "messages": 3, "words": words}))
    load_outcomes(ws, tmp_path / "outcomes.csv")
    return ws, out.assign(pid=ids), X, T, words


def test_run_dla_matches_statsmodels_with_controls_and_exclusions(tmp_path):
    ws, out, X, T, words = _study(tmp_path)
    res = run_dla(ws, ["age"], ["words", "topics"], controls=["ctl"], progress=False)
    assert list(res.columns) == ["outcome", "feature", "feature_set", "coef", "ci_lo", "ci_hi",
                                 "p", "p_corrected", "n", "label"]
    s = res.attrs["summary"]
    assert s["excluded_min_words"] == 5
    info = s["outcomes"]["age"]
    # rows 7, 9 lack age; row 13 lacks the control (all beyond the 5 short users)
    assert (info["excluded_missing_outcome"], info["excluded_missing_control"]) == (2, 1)
    assert info["n"] == N_USERS - 5 - 3
    assert info["constant_features"] == 1  # w9
    # reference: statsmodels on the same users, ordered as the study stores them
    keep = (words >= 500) & out["age"].notna().to_numpy() & out["ctl"].notna().to_numpy()
    sub = out[keep]
    F = np.column_stack([X, T])[keep]
    names = [f"w{j}" for j in range(10)] + [f"t{j}" for j in range(3)]
    for j, name in enumerate(names):
        row = res[res.feature == name]
        if F[:, j].std() == 0:
            assert row.empty
            continue
        coef, lo, hi, p = _sm_ols(F[:, j], sub["age"].to_numpy(), sub[["ctl"]].to_numpy())
        assert row.coef.item() == pytest.approx(coef, abs=1e-8)
        assert row.ci_lo.item() == pytest.approx(lo, abs=1e-8)
        assert row.ci_hi.item() == pytest.approx(hi, abs=1e-8)
        assert row.p.item() == pytest.approx(p, abs=1e-8)
        assert row.n.item() == keep.sum()
    # BH over all features of the outcome, across both feature sets
    np.testing.assert_allclose(res.p_corrected, multipletests(res.p, method="fdr_bh")[1])
    assert res.coef.is_monotonic_decreasing
    assert set(res.feature_set) == {"words", "topics"}


def test_constant_features_occurrence_filter_and_min_words(tmp_path):
    ws, out, X, T, words = _study(tmp_path)
    res = run_dla(ws, ["score"], ["words"], min_users_pct=0.1, min_words=0, progress=False)
    s = res.attrs["summary"]
    assert s["excluded_min_words"] == 0 and s["groups_eligible"] == N_USERS
    assert s["occurrence_filtered"] == {"words": 1}  # w8 (3 of 60 users < round(0.1*60))
    assert s["outcomes"]["score"]["constant_features"] == 1  # w9
    assert s["outcomes"]["score"]["excluded_missing_outcome"] == 1
    assert sorted(res.feature) == [f"w{j}" for j in range(8)]
    r, _ = stats.pearsonr(X[out.score.notna(), 0], out.score.dropna())
    assert res.set_index("feature").coef["w0"] == pytest.approx(r, abs=1e-10)


def test_binary_outcome_uses_logit(tmp_path):
    ws, out, X, T, words = _study(tmp_path)
    res = run_dla(ws, ["female"], ["words"], progress=False)
    assert list(res.columns)[-3:] == ["odds_ratio", "r", "label"]
    info = res.attrs["summary"]["outcomes"]["female"]
    assert (info["kind"], info["coded_0"], info["coded_1"]) == ("binary", "no", "yes")
    assert (info["label_0"], info["label_1"]) == ("no", "yes")  # no value labels: the values
    keep = words >= 500
    y = (out.female[keep] == "yes").to_numpy(float)
    row = res.set_index("feature").loc["w1"]
    fit = sm.Logit(y, sm.add_constant(zscore(X[keep, 1]))).fit(disp=False, tol=1e-12)
    assert row.coef == pytest.approx(fit.params[1], abs=1e-6)
    assert row.p == pytest.approx(fit.pvalues[1], abs=1e-6)
    assert row.odds_ratio == pytest.approx(np.exp(row.coef), rel=1e-12)
    # w8 is used by three users only, all coded 'yes': separation, reported not estimated
    assert (out.female[10:13] == "yes").all()
    assert info["separation_features"] == 1
    assert np.isnan(res.set_index("feature").coef["w8"])
    # ordered by the bounded r, which the separated feature has too
    assert res.r.is_monotonic_decreasing and res.r.between(-1, 1).all()
    assert res.set_index("feature").r["w8"] == pytest.approx(
        stats.pearsonr(X[keep, 8], y)[0], abs=1e-10)


def test_each_outcome_is_adjusted_for_the_other_controls_only(tmp_path):
    ws, out, X, T, words = _study(tmp_path)
    res = run_dla(ws, ["age", "score"], ["topics"], controls=["age", "score"], progress=False)
    info = res.attrs["summary"]["outcomes"]
    assert info["age"]["controls"] == ["score"] and info["score"]["controls"] == ["age"]
    keep = (words >= 500) & out["age"].notna().to_numpy() & out["score"].notna().to_numpy()
    coef, *_ = _sm_ols(T[keep, 0], out.age[keep].to_numpy(), out[["score"]][keep].to_numpy())
    row = res[(res.outcome == "age") & (res.feature == "t0")]
    assert row.coef.item() == pytest.approx(coef, abs=1e-8)
    assert info["age"]["excluded_missing_control"] == 1  # row 11 has no score


def test_results_stored_and_replaced_on_rerun(tmp_path):
    ws, *_ = _study(tmp_path)
    run_dla(ws, ["age", "score"], ["words"], progress=False)
    res = run_dla(ws, ["age"], ["words"], progress=False)
    with ws.connect() as con:
        rows = con.execute("SELECT run_id, outcome, count(*) FROM dla_results "
                           "GROUP BY ALL ORDER BY outcome").fetchall()
    assert rows == [(2, "age", len(res)), (1, "score", len(res))]
    assert res.attrs["run_id"] == 2


def test_export_parquet_round_trip_and_bad_suffix(tmp_path):
    from psyprofile.analysis.dla import export_results

    ws, *_ = _study(tmp_path)
    res = run_dla(ws, ["female"], ["words"], progress=False)
    export_results(res, tmp_path / "out" / "dla.parquet")
    back = pd.read_parquet(tmp_path / "out" / "dla.parquet")
    pd.testing.assert_frame_equal(back, pd.DataFrame(res), check_like=False)
    with pytest.raises(PsyprofileError, match=r"dla\.xlsx: cannot export DLA results as '\.xlsx'"):
        export_results(res, tmp_path / "dla.xlsx")


def test_bad_inputs_give_clear_errors(tmp_path):
    ws, *_ = _study(tmp_path)
    with pytest.raises(PsyprofileError, match="outcome nope not loaded"):
        run_dla(ws, ["nope"], ["words"], progress=False)
    with pytest.raises(PsyprofileError, match="feature set 'ghost' at level 'user'"):
        run_dla(ws, ["age"], ["ghost"], progress=False)
    with pytest.raises(PsyprofileError, match="no user has at least 10000 words"):
        run_dla(ws, ["age"], ["words"], min_words=10_000, progress=False)


# --- the command line ------------------------------------------------------------------------


def test_cli_dla_on_an_ingested_study_with_out_round_trip(tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    rng = np.random.default_rng(2)
    users = [f"b{i}" for i in range(40)]
    age = rng.uniform(15, 50, len(users)).round()
    posts = pd.DataFrame({"user_id": np.repeat(users, 2),
                          "text": [f"post {k} by someone" for k in range(2 * len(users))]})
    posts.to_csv(tmp_path / "posts.csv", index=False)
    pd.DataFrame({"user_id": users, "age": age}).to_csv(tmp_path / "users.csv", index=False)
    study = tmp_path / "s"
    run = CliRunner().invoke
    assert run(cli, ["init", str(study)]).exit_code == 0
    r = run(cli, ["ingest", str(study), str(tmp_path / "posts.csv"), "--text-col", "text",
                  "--user-col", "user_id", "--quiet"])
    assert r.exit_code == 0, r.output
    assert run(cli, ["outcomes", str(study), str(tmp_path / "users.csv")]).exit_code == 0
    ws = Workspace.open(study)
    pseudo = ws.pseudonymizer("user")
    ids = [pseudo(u) for u in users]
    old = age - age.mean()
    X = np.column_stack([0.01 + 0.001 * old + rng.normal(0, 0.004, 40),  # 'work': older users
                         rng.gamma(1, 0.01, 40), rng.gamma(1, 0.01, 40)])
    feats = pd.DataFrame([(ids[i], name, X[i, j] * 600, X[i, j])
                          for i in range(40) for j, name in enumerate(["work", "lol", "the"])],
                         columns=["group_id", "feature", "value", "group_norm"])
    with ws.connect() as con:
        write_features(con, "1gram", "user", feats, kind="ngram")
        write_group_words(con, "user", pd.DataFrame({"group_id": ids, "messages": 2, "words": 600}))
    out = tmp_path / "dla.csv"
    r = run(cli, ["dla", str(study), "--outcome", "age", "--features", "1gram", "--out", str(out),
                  "--top", "2", "--quiet", "--clouds", str(tmp_path / "clouds")])
    assert r.exit_code == 0, r.output
    # only 'work' is significant: one positive cloud, and a note for the empty negative side
    assert sorted(p.name for p in (tmp_path / "clouds").iterdir()) == [
        "age_1gram_pos.png", "age_1gram_pos.svg"]
    assert "clouds: age / 1gram / negative: no feature significant" in r.output
    assert "40 users with at least 500 words (0 of 40 left out for fewer)" in r.output
    assert "== age (continuous; 40 users) ==" in r.output
    assert "-- higher age --" in r.output and "work" in r.output.split("-- higher age --")[1]
    back = pd.read_csv(out)
    assert list(back.columns) == ["outcome", "feature", "feature_set", "coef", "ci_lo", "ci_hi",
                                  "p", "p_corrected", "n", "label"]
    assert back.feature.iloc[0] == "work"
    assert back.coef.iloc[0] == pytest.approx(stats.pearsonr(X[:, 0], age)[0], abs=1e-10)
    with ws.connect() as con:
        stored = con.execute("SELECT feature, coef FROM dla_results ORDER BY coef DESC").df()
    np.testing.assert_allclose(stored.coef, back.coef, rtol=1e-12)
    r = run(cli, ["dla", str(study), "--outcome", "height", "--features", "1gram"])
    assert r.exit_code == 2 and "error: outcome height not loaded" in r.output


# --- bounded intervals, labels -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(5, 60), rho=st.floats(-0.999, 0.999), seed=st.integers(0, 10_000))
def test_every_correlation_ci_lies_in_minus_one_one(n, rho, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = rho * x[:, 0] + np.sqrt(1 - rho**2) * rng.normal(size=n)
    x[:, 1] = y + 1e-3 * rng.normal(size=n)  # r near 1: a t interval passes 1 here
    eff = ols_effects(x, y)
    assert (eff.ci_lo >= -1).all() and (eff.ci_hi <= 1).all()
    assert (eff.ci_lo <= eff.coef + 1e-12).all() and (eff.coef <= eff.ci_hi + 1e-12).all()


def test_strong_small_sample_r_has_an_interval_below_one():
    # the case of the issue: 'dinner 0.851 [0.662, 1.040]' with a t interval
    rng = np.random.default_rng(0)
    x = rng.normal(size=15)
    y = 0.85 * x + 0.5 * rng.normal(size=15)
    eff = ols_effects(x[:, None], y)
    r = stats.pearsonr(x, y)[0]
    half = 1.959963984540054 / np.sqrt(15 - 3)
    assert eff.ci_hi[0] == pytest.approx(np.tanh(np.arctanh(r) + half), abs=1e-12) and eff.ci_hi[0] < 1


def test_binary_directions_use_value_labels_and_topics_their_words(tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli
    from psyprofile.features.topic_words import topic_label
    from psyprofile.lexica.registry import resolve_lexicon

    ws, out, X, T, words = _study(tmp_path)
    # 'female' as 0/1 with labels; topics t0..t2 renamed to fb2000_cp topic ids
    pseudo = ws.pseudonymizer("user")
    pd.DataFrame({"user_id": out.user_id, "sex": (out.female == "yes").astype(float)}).to_csv(
        tmp_path / "sex.csv", index=False)
    load_outcomes(ws, tmp_path / "sex.csv")
    lex = resolve_lexicon("fb2000_cp", None).entries.to_pandas()
    ids = [pseudo(u) for u in out.user_id]
    feats = pd.DataFrame([(ids[i], str(t), 1.0, 0.01 + T[i, j] ** 2)
                          for i in range(N_USERS) for j, t in enumerate((344, 1, 500))],
                         columns=["group_id", "feature", "value", "group_norm"])
    with ws.connect() as con:
        write_features(con, "fb2000_cp", "user", feats, kind="lexicon",
                       params={"lexicon": "fb2000_cp", "weighted": True, "source": "fb2000_cp"})
    r = CliRunner().invoke(cli, ["dla", str(ws.path), "--outcome", "sex", "--features", "words,fb2000_cp",
                                 "--labels", "sex=0:male,1:female", "--quiet", "--fdr", "none",
                                 "--alpha", "1"])
    assert r.exit_code == 0, r.output
    assert "== sex (binary: 1 = female, 0 = male;" in r.output
    assert "-- more in female --" in r.output and "-- more in male --" in r.output
    words344 = dict(lex[lex.category == "344"][["term", "weight"]].values)
    assert topic_label(words344) == "rise, ashes, fields"
    assert "rise, ashes, fields (344)" in r.output
    with ws.connect() as con:
        stored = dict(con.execute("SELECT feature, label FROM dla_results WHERE feature_set = 'fb2000_cp'"
                                  ).fetchall())
    assert stored["344"] == "rise, ashes, fields"


def test_outcome_with_quotes_in_its_name(tmp_path):
    ws, out, X, T, words = _study(tmp_path)
    name = 'score "x"; drop'
    pd.DataFrame({"user_id": out.user_id, name: out.score}).to_csv(tmp_path / "q.csv", index=False)
    load_outcomes(ws, tmp_path / "q.csv")
    load_outcomes(ws, tmp_path / "outcomes.csv")  # merging again keeps the quoted column
    res = run_dla(ws, [name], ["words"], progress=False)
    ref = run_dla(ws, ["score"], ["words"], progress=False)
    np.testing.assert_allclose(res.coef, ref.coef)
