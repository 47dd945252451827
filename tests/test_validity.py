"""``psyprofile validity`` on hand-made profile tables, checked against scipy."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from psyprofile.analysis.validity import pearson_ci, validity_report
from psyprofile.cli.main import cli
from psyprofile.errors import PsyprofileError
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "survey"
# profile run 1: profile_scores is a view of the latest run (profiles.study)
PROFILE_DDL = "INSERT INTO profile_runs VALUES (1, NULL, [], NULL, 0, 'study')"


def _study(tmp_path: Path, n: int = 60, seed: int = 0) -> tuple[Workspace, pd.DataFrame, pd.DataFrame]:
    """A study with a hand-made profile (3 dimensions) and survey outcomes for most users."""
    ws = Workspace.create(tmp_path / "st")
    rng = np.random.default_rng(seed)
    raw = [f"u{i}" for i in range(n)]
    pseudo = ws.pseudonymizer("user")
    ext, neu = rng.normal(size=n), rng.normal(size=n)
    lang = pd.DataFrame({"extraversion": ext + rng.normal(size=n),
                         "neuroticism": neu + rng.normal(size=n),
                         "anger": neu + 2 * rng.normal(size=n)}, index=raw)
    lang.iloc[3, 0] = np.nan  # one user without an extraversion score
    rows = [(pseudo(u), "big5" if d != "anger" else "emotions", d, float(v), 0.0, 0.0, 50.0, 600, "x")
            for d in lang.columns for u, v in lang[d].items() if np.isfinite(v)]
    with ws.connect() as con:
        con.execute(PROFILE_DDL)
        con.executemany("INSERT INTO profile_run_scores VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                        "NULL, NULL)", rows)
    survey = pd.DataFrame({"ipip50_extraversion": ext + 0.5 * rng.normal(size=n),
                           "ipip50_neuroticism": neu + 0.5 * rng.normal(size=n),
                           "age": rng.integers(18, 60, n)}, index=raw)
    survey = survey.iloc[: n - 10]  # ten users answered no questionnaire
    survey.rename_axis("id").reset_index().to_csv(tmp_path / "out.csv", index=False)
    load_outcomes(ws, tmp_path / "out.csv", user_col="id")
    return ws, lang, survey


def test_pearson_ci_matches_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=40), rng.normal(size=40)
    y = y + 0.6 * x
    x[5] = np.nan
    n, r, lo, hi, p = pearson_ci(x, y)
    ref = stats.pearsonr(x[~np.isnan(x)], y[~np.isnan(x)])
    ci = ref.confidence_interval(0.95)
    assert n == 39
    assert (r, lo, hi, p) == pytest.approx((ref.statistic, ci.low, ci.high, ref.pvalue), rel=1e-9)
    assert np.isnan(pearson_ci(np.ones(5), np.arange(5.0))[1])


def test_convergent_and_mtmm_against_scipy(tmp_path):
    ws, lang, survey = _study(tmp_path)
    rep = validity_report(ws, split_half=False)
    assert rep.n_users == 60
    conv = rep.convergent.set_index("dimension")
    assert list(conv.index) == ["extraversion", "neuroticism"]  # anger has no questionnaire
    for dim in conv.index:
        both = lang[[dim]].join(survey[[f"ipip50_{dim}"]], how="inner").dropna()
        ref = stats.pearsonr(both.iloc[:, 0], both.iloc[:, 1])
        ci = ref.confidence_interval(0.95)
        row = conv.loc[dim]
        assert row["outcome"] == f"ipip50_{dim}" and row["family"] == "big5"
        assert row["n"] == len(both)
        assert (row["r"], row["ci_lo"], row["ci_hi"], row["p"]) == pytest.approx(
            (ref.statistic, ci.low, ci.high, ref.pvalue), rel=1e-9)
    assert conv.at["extraversion", "n"] == 49  # 50 with a questionnaire, one without a score

    pairs = rep.pairs.set_index(["a", "b"])
    # Language anger × survey neuroticism: a heteromethod cell of the MTMM table.
    both = lang[["anger"]].join(survey[["ipip50_neuroticism"]], how="inner")
    cell = pairs.loc[("anger", "ipip50_neuroticism")]
    assert cell["block"] == "heteromethod" and cell["n"] == 50
    assert cell["r"] == pytest.approx(stats.pearsonr(both["anger"], both["ipip50_neuroticism"])[0])
    # Monomethod blocks: the two matched language traits, and the two survey traits.
    assert pairs.loc[("extraversion", "neuroticism"), "block"] == "language"
    s = pairs.loc[("ipip50_extraversion", "ipip50_neuroticism")]
    assert s["block"] == "survey" and s["r"] == pytest.approx(
        stats.pearsonr(survey["ipip50_extraversion"], survey["ipip50_neuroticism"])[0])
    # Age is an outcome but not a questionnaire score: it is in no pair.
    assert "age" not in set(rep.pairs["b"]) | set(rep.pairs["a"])
    assert len(rep.pairs) == 3 * 2 + 1 + 1

    text = rep.summary()
    assert "convergent validity" in text and "ipip50_extraversion" in text
    assert "multitrait-multimethod" in text and "Campbell & Fiske" in text


def test_note_when_the_language_score_was_trained_on_the_questionnaire(tmp_path):
    import json

    from psyprofile.models import integrity
    from psyprofile.models.persist import MODEL_JSON, MODELS_DIR

    ws, _, _ = _study(tmp_path)
    folder = ws.path / MODELS_DIR / "ext"
    folder.mkdir(parents=True)
    (folder / MODEL_JSON).write_text(json.dumps({"outcome": "ipip50_extraversion"}))
    integrity.sign(folder)  # a model's files are read only under a valid integrity record
    with ws.connect() as con:
        con.execute("UPDATE profile_run_scores SET source = 'model:ext' WHERE dimension = 'extraversion'")
        con.execute("UPDATE profile_run_scores SET source = 'model:gone' WHERE dimension = 'neuroticism'")
    notes = validity_report(ws, split_half=False).notes
    assert len(notes) == 1
    assert notes[0].startswith("extraversion comes from model:ext, trained on ipip50_extraversion")


def test_no_profile_and_no_questionnaire_messages(tmp_path):
    ws = Workspace.create(tmp_path / "st")
    with pytest.raises(PsyprofileError, match=r"no profiles yet .*`psyprofile profile "):
        validity_report(ws, split_half=False)
    with ws.connect() as con:
        con.execute(PROFILE_DDL)
        con.execute("INSERT INTO profile_run_scores VALUES (1, 'a', 'big5', 'openness', 1, 0, 2, "
                    "50, 600, 'x', NULL, NULL)")
    rep = validity_report(ws, split_half=False)
    assert rep.convergent.empty and rep.pairs.empty
    assert "no questionnaire outcome matches a profile dimension" in rep.summary()
    assert "psyprofile survey" in rep.summary()


def test_split_half_is_called_and_reported(tmp_path, monkeypatch):
    ws, _, _ = _study(tmp_path)
    calls = []

    def fake_split_half(ws_, *, min_words=None, seed=0, progress=True, spec=None):
        calls.append((ws_.path, min_words, seed, progress, spec))
        return pd.DataFrame({"family": ["big5"], "dimension": ["extraversion"], "n_users": [40],
                             "r_halves": [0.5], "reliability": [2 * 0.5 / 1.5],
                             "ci_lo": [0.4], "ci_hi": [0.8]})

    fake = types.ModuleType("psyprofile.profiles.reliability")
    fake.split_half = fake_split_half
    monkeypatch.setitem(sys.modules, "psyprofile.profiles.reliability", fake)
    out = tmp_path / "v.csv"
    res = CliRunner().invoke(cli, ["validity", str(ws.path), "--out", str(out), "--min-words", "300",
                                   "--seed", "7", "--quiet"])
    assert res.exit_code == 0, res.output
    assert calls == [(ws.path, 300, 7, False, None)]
    assert "split-half reliability" in res.output and "0.667" in res.output
    table = pd.read_csv(out)
    assert set(table["section"]) == {"convergent", "mtmm", "split_half"}
    sh = table[table["section"] == "split_half"].iloc[0]
    assert (sh["a"], sh["n"], sh["r"], sh["r_halves"]) == ("extraversion", 40, pytest.approx(2 / 3), 0.5)
    conv = table[table["section"] == "convergent"]
    assert sorted(conv["a"]) == ["extraversion", "neuroticism"]


def test_cli_without_profile_exits_with_message(tmp_path):
    Workspace.create(tmp_path / "st")
    res = CliRunner().invoke(cli, ["validity", str(tmp_path / "st"), "--no-split-half"])
    assert res.exit_code == 2 and "no profiles yet" in res.output


def test_with_real_profile_and_split_half(tmp_path):
    """End to end with the profile code: a tiny joy/anger lexicon, posts, a questionnaire."""
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.profiles.spec import spec_from_lexica
    from psyprofile.profiles.study import profile_study

    ws = Workspace.create(tmp_path / "st")
    rng = np.random.default_rng(0)
    filler = ["the", "a", "day", "went", "and", "we", "then", "it", "was", "so"]
    posts, joy_level = [], {}
    for u in range(30):
        p = (u % 10) / 20
        joy_level[f"u{u}"] = p
        for m in range(12):
            words = [rng.choice(["happy", "party"]) if rng.random() < p else rng.choice(filler)
                     for _ in range(20)]
            posts.append((f"m{u}_{m}", f"u{u}", f"2020-01-{m + 1:02d}", " ".join(words)))
    pd.DataFrame(posts, columns=["message_id", "user_id", "date", "message"]).to_csv(
        tmp_path / "posts.csv", index=False)
    ingest(ws, [tmp_path / "posts.csv"], progress=False,
           columns=ColumnMap(text="message", user="user_id", time="date", id="message_id"))
    spec = spec_from_lexica({"nrc_emot": FIX / "nrc_emot_tiny.csv"})
    profile_study(ws, min_words=100, spec=spec, progress=False)
    q = pd.DataFrame({"id": list(joy_level), "mood_joy": [v + rng.normal(scale=0.05)
                                                         for v in joy_level.values()]})
    q.to_csv(tmp_path / "q.csv", index=False)
    load_outcomes(ws, tmp_path / "q.csv", user_col="id")

    rep = validity_report(ws, min_words=100, spec=spec, progress=False, seed=1)
    conv = rep.convergent.set_index("dimension")
    assert list(conv.index) == ["joy"] and conv.at["joy", "n"] == 30 and conv.at["joy", "r"] > 0.8
    sh = rep.split_half.set_index("dimension")
    assert set(sh.index) == {"anger", "joy"}
    assert sh.at["joy", "n_users"] == 30 and sh.at["joy", "reliability"] > 0.8
    r = sh.at["joy", "r_halves"]
    assert sh.at["joy", "reliability"] == pytest.approx(2 * r / (1 + r))
