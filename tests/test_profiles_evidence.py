"""Issue 14, profile half: the WWBP Big Five lexicon (by hand, its N turned into
neuroticism, obtained with npm), the language guard, reference percentiles for a one-person
study, evidence on every score, and profile runs kept side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_profiles import FIX, make_study

from psyprofile.lexica import wwbp
from psyprofile.lexica.load import read_lexicon_file
from psyprofile.profiles.spec import TRAITS, spec_from_lexica
from psyprofile.profiles.study import list_runs, profile_study, read_scores, read_users
from psyprofile.profiles.texts import profile_texts

BIGFIVE = FIX / "bigfive_lexicon.json"  # the npm package's shape, our own tiny weights
# tokens: i feel so depressed and lonely today (7); sick of it , i am sick of school (9);
# blessings after my workout , thank you so much (9)
TEXTS = {"sad": "I feel so depressed and lonely today",
         "sick": "sick of it, I am sick of school",
         "glad": "blessings after my workout, thank you so much"}
# hand computation, Σ weight × count / words, with the file's N sign flipped
HAND = {
    "sad": {"neuroticism": (0.07 + 0.06) / 7},
    "sick": {"neuroticism": 2 * 0.07 / 9, "conscientiousness": 2 * -0.02 / 9},
    "glad": {"neuroticism": (-0.04 - 0.045) / 9, "agreeableness": (0.05 + 0.04) / 9},
}


def wwbp_spec(**kw):
    return spec_from_lexica({"wwbp_big5": BIGFIVE}, **kw)


def expected(user: str, trait: str) -> float:
    return HAND[user].get(trait, 0.0)


def test_bigfive_json_is_read_with_neuroticism_flipped():
    lex = read_lexicon_file(BIGFIVE)
    assert lex.categories == sorted(TRAITS) and lex.weighted
    e = lex.entries.to_pandas().set_index(["term", "category"])["weight"]
    # the file's N is emotional stability: depressed -0.07 there is neuroticism +0.07 here
    assert e[("depressed", "neuroticism")] == pytest.approx(0.07)
    assert e[("blessings", "neuroticism")] == pytest.approx(-0.04)
    assert e[("blessings", "agreeableness")] == pytest.approx(0.05)  # other traits keep theirs
    assert "differs" in lex.notes[0]  # not the published file, and it says so


def test_wwbp_scores_equal_hand_computation_in_one_person_and_study_paths(tmp_path):
    for user, text in TEXTS.items():
        out = profile_texts([text], min_words=1, spec=wwbp_spec())
        got = {s["dimension"]: s["value"] for s in out["scores"]}
        for t in TRAITS:
            assert got[t] == pytest.approx(expected(user, t), abs=1e-12), (user, t)
    rows = [{"user_id": u, "message_id": u, "created_time": "2024-01-01", "message": t}
            for u, t in TEXTS.items()]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    profile_study(ws, min_words=1, progress=False, spec=wwbp_spec())
    df = read_scores(ws)
    pseudo = ws.pseudonymizer("user")
    # coverage: occurrences of the lexicon's terms per word (a term in two traits once)
    coverage = {"sad": 2 / 7, "sick": 2 / 9, "glad": 3 / 9}
    for user in TEXTS:
        mine = df[df.user_id == pseudo(user)].set_index("dimension")
        for t in TRAITS:
            assert mine.loc[t, "value"] == pytest.approx(expected(user, t), abs=1e-12), (user, t)
        assert mine["coverage"].tolist() == pytest.approx([coverage[user]] * 5), user


def test_features_lexicon_matches_1_to_3grams(tmp_path):
    from psyprofile.cli.main import cli

    rows = [{"user_id": u, "message_id": u, "created_time": "2024-01-01", "message": t}
            for u, t in TEXTS.items()]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    # matching on 2grams/3grams needs those tables: without them the lexicon step refuses...
    from psyprofile.errors import PsyprofileError
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.features.lexicon import extract_lexicon

    extract_features(ws, FeatureOptions(ngrams=(1,)), progress=False)
    with pytest.raises(PsyprofileError, match="has 2-word terms"):
        extract_lexicon(ws, read_lexicon_file(BIGFIVE), source_set="1gram", progress=False)
    # ...and `features --lexicon` counts them in its own pass, without the 1to3gram union
    res = CliRunner().invoke(cli, ["features", str(ws.path), "--lexicon", str(BIGFIVE)])
    assert res.exit_code == 0, res.output
    assert "added 2grams, 3grams" in res.output
    with ws.connect() as con:
        sets = {r[0] for r in con.execute("SELECT name FROM feature_sets").fetchall()}
    assert {"2gram", "3gram"} <= sets and "1to3gram" not in sets
    with ws.connect() as con:
        df = con.execute('SELECT group_id, feature, value, group_norm FROM '
                         '"feat$bigfive_lexicon$user"').df()
    got = df.set_index(["group_id", "feature"])
    pseudo = ws.pseudonymizer("user")
    assert got.loc[(pseudo("sick"), "neuroticism"), "value"] == 2  # 'sick of' twice
    for user, traits in HAND.items():
        for t, v in traits.items():
            assert got.loc[(pseudo(user), t), "group_norm"] == pytest.approx(v, abs=1e-12)


def test_neuroticism_runs_toward_neuroticism():
    sad = profile_texts(["depressed lonely sick of it all, so depressed and lonely"],
                        min_words=1, spec=wwbp_spec())
    glad = profile_texts(["blessings and a workout, more blessings after the workout"],
                         min_words=1, spec=wwbp_spec())

    def neuro(out):
        return next(s["value"] for s in out["scores"] if s["dimension"] == "neuroticism")

    assert neuro(sad) > 0 > neuro(glad)


def test_without_npm_the_fix_is_named(tmp_path, monkeypatch):
    from psyprofile.errors import PsyprofileError

    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(wwbp.ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on it
    with pytest.raises(PsyprofileError, match=r"npm is not installed: install npm .*"
                                              r"PSYPROFILE_WWBP_LEXICON"):
        wwbp.lexicon_path()
    monkeypatch.setenv(wwbp.ENV, str(BIGFIVE))  # the file by path works without npm
    assert wwbp.lexicon_path() == BIGFIVE


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_route_fetches_the_published_lexicon(tmp_path, monkeypatch):
    from psyprofile.lexica.registry import load_bundled

    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(wwbp.ENV, raising=False)
    path = wwbp.lexicon_path()
    assert path == wwbp.cached_path() and wwbp.sha256_file(path) == wwbp.SHA256
    lex = load_bundled("wwbp_big5")
    assert lex.categories == sorted(TRAITS) and not lex.notes
    e = lex.entries.to_pandas().set_index(["term", "category"])["weight"]
    assert e[("depressed", "neuroticism")] > 0 and e[("sick of", "neuroticism")] > 0
    assert e[("blessings", "neuroticism")] < 0 and e[("workout", "neuroticism")] < 0


LANG_POSTS = {
    "en": ["I went to the park with my friends today and we had a great time together",
           "Work was long but the evening walk by the river made up for it completely"],
    "ru": ["Сегодня я гулял в парке с друзьями, и мы отлично провели время вместе",
           "Работа была долгой, но вечерняя прогулка у реки всё компенсировала"],
    "zh": ["我今天和朋友们一起去公园散步，我们玩得非常开心，天气也很好",
           "工作很累，但是晚上在河边散步让我心情好多了，明天还要继续努力"],
}


def test_other_languages_are_unsupported_not_scored(tmp_path):
    rows = [{"user_id": u, "message_id": f"{u}{i}", "created_time": f"2024-01-0{i + 1}",
             "message": t} for u, texts in LANG_POSTS.items() for i, t in enumerate(texts)]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    spec = spec_from_lexica({"nrc_emot": FIX / "nrc_emot.csv"}, vader=True)
    report = profile_study(ws, min_words=1, progress=False, spec=spec)
    assert (report.scored, report.unsupported_language) == (1, 2)
    assert "2 writing mostly in languages the sources were not built for" in report.summary()
    pseudo = ws.pseudonymizer("user")
    users = read_users(ws).set_index("user_id")
    for u in ("ru", "zh"):
        assert users.loc[pseudo(u), "status"] == "unsupported_language"
        assert users.loc[pseudo(u), "languages"].startswith(f"{u} 1.00")
        assert users.loc[pseudo(u), "other_language_share"] == 1.0
    assert users.loc[pseudo("en"), "status"] == "scored"
    assert set(read_scores(ws)["user_id"]) == {pseudo("en")}  # no number for the others
    from psyprofile.profiles.card import user_card

    card = user_card(ws, pseudo("zh"))
    assert "status: unsupported_language; languages: zh 1.00" in card
    assert "languages the sources were not built for" in card
    out = profile_texts(LANG_POSTS["ru"], min_words=1, spec=spec)
    assert out["status"] == "unsupported_language" and out["scores"] == []


def one_person_norms(tmp_path: Path) -> Path:
    """Reference norms for the WWBP fixture: 101 quantiles of a made-up reference sample."""
    from psyprofile.profiles.spec import LEXICON_DIMENSIONS

    dims = [{"dimension": d.name, "family": d.family, "source": "wwbp_big5", "unit": d.unit,
             "transform": d.transform, "c": 0.1, "mean": 0.0, "sd": 0.01, "n": 1000,
             "reliability": 0.6, "quantiles": [-0.05 + 0.001 * i for i in range(101)],
             "reference": "made-up sample, 1,000 users"}
            for d in LEXICON_DIMENSIONS["wwbp_big5"]]
    path = tmp_path / "norms.json"
    path.write_text(json.dumps({"reference": "made-up sample", "dimensions": dims}))
    return path


def test_one_person_study_gets_big5_against_the_named_reference(tmp_path):
    from dataclasses import replace

    rows = [{"user_id": "donor", "message_id": f"m{i}", "created_time": f"2024-01-0{i + 1}",
             "message": t} for i, t in enumerate(TEXTS.values())]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    spec = replace(wwbp_spec(), norms=str(one_person_norms(tmp_path)))
    report = profile_study(ws, min_words=1, progress=False, spec=spec)
    assert report.scored == 1 and report.references == ["made-up sample, 1,000 users"]
    df = read_scores(ws).set_index("dimension")
    assert df["pct"].notna().all() and (df["reference"] == "made-up sample, 1,000 users").all()
    neuro = df.loc["neuroticism"]
    # value (0.13 + 0.14 - 0.085) / 25 words, placed among the quantiles -0.05 + 0.001 i
    assert neuro.value == pytest.approx(0.185 / 25)
    assert neuro.pct == pytest.approx((0.185 / 25 + 0.05) / 0.001)
    assert neuro.lo < neuro.value < neuro.hi  # the reference's error scale: one user has none
    # within the study a single user sits at the 50th percentile: still an option
    profile_study(ws, min_words=1, progress=False, spec=spec, reference="study")
    assert (read_scores(ws)["pct"] == 50).all()
    assert read_scores(ws)["reference"].iloc[0] == "this study (1 scored users)"


def test_second_run_keeps_the_first(tmp_path):
    from psyprofile.cli.main import cli
    from psyprofile.profiles.export import wide_profiles

    ws = make_study(tmp_path / "s")
    first = spec_from_lexica({"nrc_emot": FIX / "nrc_emot.csv"})
    second = spec_from_lexica({"dd_emnlp14_ageGender": FIX / "dd_emnlp14_ageGender.csv"})
    profile_study(ws, min_words=10, progress=False, spec=first)
    profile_study(ws, min_words=10, progress=False, spec=second)
    runs = list_runs(ws)
    assert runs["run_id"].tolist() == [1, 2]
    assert [list(s) for s in runs["sources"]] == [["nrc_emot"], ["dd_emnlp14_ageGender"]]
    assert set(read_scores(ws, 1)["source"]) == {"nrc_emot"}
    assert set(read_scores(ws)["source"]) == {"dd_emnlp14_ageGender"}  # the latest by default
    assert "joy" in wide_profiles(ws, 1).columns and "joy" not in wide_profiles(ws).columns
    with ws.connect() as con:  # other readers see the latest run through the views
        assert {r[0] for r in con.execute("SELECT source FROM profile_scores").fetchall()} == \
            {"dd_emnlp14_ageGender"}
    res = CliRunner().invoke(cli, ["profile", str(ws.path), "--runs"])
    assert res.exit_code == 0 and "run 1" in res.output and "run 2" in res.output
    alice = ws.pseudonymizer("user")("alice")
    res = CliRunner().invoke(cli, ["profile", str(ws.path), "--user", alice, "--run", "1"])
    assert res.exit_code == 0, res.output
    assert "(profile run 1)" in res.output and "joy" in res.output
    res = CliRunner().invoke(cli, ["profile", str(ws.path), "--user", alice, "--run", "7"])
    assert res.exit_code == 2 and "no profile run 7; runs: 1, 2" in res.output


def test_old_single_run_tables_become_run_1(tmp_path):
    from psyprofile.store.schema import MIGRATIONS
    from psyprofile.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "s")
    mig = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE profile_runs" in m)
    with ws.connect() as con:  # the tables as the single-run builds left them
        for v in ("profile_scores", "profile_users", "profile_norms"):
            con.execute(f"DROP VIEW {v}")
        for t in ("profile_runs", "profile_run_scores", "profile_run_users", "profile_run_norms"):
            con.execute(f"DROP TABLE {t}")
        con.execute("CREATE TABLE profile_scores (user_id VARCHAR, family VARCHAR, dimension "
                    "VARCHAR, value DOUBLE, lo DOUBLE, hi DOUBLE, pct DOUBLE, words BIGINT, "
                    "source VARCHAR)")
        con.execute("INSERT INTO profile_scores VALUES ('u', 'emotions', 'joy', 0.1, 0, 0.2, "
                    "50, 600, 'nrc_emot')")
        con.execute("CREATE TABLE profile_users (user_id VARCHAR, words BIGINT, status VARCHAR)")
        con.execute("INSERT INTO profile_users VALUES ('u', 600, 'scored')")
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(mig)])
    ws = Workspace.open(ws.path)
    assert list_runs(ws)["run_id"].tolist() == [1]
    df = read_scores(ws)
    assert df[["dimension", "value", "reference"]].values.tolist() == [["joy", 0.1, "this study"]]


def test_two_big5_sources_get_their_own_columns():
    from psyprofile.profiles.export import column_names

    df = pd.DataFrame({"dimension": ["openness", "openness", "joy"],
                       "source": ["wwbp_big5", "zeroshot:ipip50+ipipneo120:minilm", "nrc_emot"]})
    assert list(column_names(df).values()) == ["openness_wwbp", "openness_zeroshot", "joy"]


def test_evidence_table_names_status_and_figures():
    from psyprofile.profiles.evidence import dimension_evidence, evidence_summary, source_evidence
    from psyprofile.profiles.spec import default_spec

    zs = "zeroshot:ipip50+ipipneo120:minilm"
    assert source_evidence(zs).status == "experimental"
    assert evidence_summary(zs, "extraversion").startswith("EXPERIMENTAL; r with self-report -0.08")
    assert "mean r with self-report over the five traits 0.05" in evidence_summary(zs, "openness")
    # the static table's words come from wordfreq, which the static source cites
    assert "wordfreq" in source_evidence(zs + "-static").citation
    assert "wordfreq" not in source_evidence(zs).citation
    ww = dimension_evidence("wwbp_big5", "neuroticism")
    assert ww["status"] == "default" and ww["languages"] == ["en"] and "PLOS ONE" in ww["citation"]
    assert [f["value"] for f in ww["convergent"]] == [0.115, 0.567]
    assert dimension_evidence("nrc_emot", "joy")["convergent"] == []
    assert "wwbp_big5" in default_spec().sources() and not default_spec().zeroshot


def test_scores_carry_their_evidence(tmp_path):
    ws = make_study(tmp_path / "s")
    profile_study(ws, min_words=10, progress=False,
                  spec=spec_from_lexica({"dd_emnlp14_ageGender": FIX / "dd_emnlp14_ageGender.csv"}))
    df = read_scores(ws).drop_duplicates("dimension").set_index("dimension")
    assert df.loc["age", "unit"] == "years" and df.loc["age", "languages"] == "en"
    assert df.loc["age", "evidence"].startswith("r with self-reported age 0.77")
    assert df.loc["age", "source_status"] == "validated" and "Sap" in df.loc["age", "citation"]
