"""Profiles: lexicon scores by hand, insufficient text, intervals, export, card, split-half."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.privacy.pseudonym import write_key
from psyprofile.profiles import spec as spec_mod
from psyprofile.profiles.reliability import split_half
from psyprofile.profiles.scoring import error_scale, percentiles, split_half_stats
from psyprofile.profiles.spec import spec_from_lexica
from psyprofile.profiles.study import profile_study, read_scores
from psyprofile.profiles.texts import profile_texts
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "profiles"
KEY = bytes(range(32))  # a fixed study key, so pseudonyms (and the card) are stable


def fixture_spec():
    return spec_from_lexica({"nrc_emot": FIX / "nrc_emot.csv",
                             "dd_emnlp14_ageGender": FIX / "dd_emnlp14_ageGender.csv"})


def make_study(path: Path, posts: Path = FIX / "posts.csv") -> Workspace:
    ws = Workspace.create(path)
    ws.key_path.unlink()
    write_key(ws.key_path, KEY)
    with ws.connect() as con:  # the fixed key replaces the new one: fingerprint it instead
        con.execute("DELETE FROM meta WHERE key = 'key_fingerprint'")
    ws = Workspace.open(path)
    ingest(ws, [posts], columns=ColumnMap(text="message", user="user_id", time="created_time",
                                          id="message_id"), progress=False)
    return ws


def scores_by_user(ws: Workspace) -> dict[tuple[str, str], pd.Series]:
    pseudo = ws.pseudonymizer("user")
    back = {pseudo(u): u for u in ("alice", "bob", "carol")}
    df = read_scores(ws)
    return {(back[r.user_id], r.dimension): r for _, r in df.iterrows()}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    ws = make_study(tmp_path_factory.mktemp("p") / "s")
    report = profile_study(ws, min_words=10, progress=False, spec=fixture_spec())
    return ws, report


def test_lexicon_scores_equal_hand_computation(study):
    ws, report = study
    s = scores_by_user(ws)
    # alice: 20 tokens; joy = happy, smile, joyful (wildcard joy*), happy, happy
    assert s[("alice", "joy")].value == pytest.approx(5 / 20)
    assert s[("alice", "anger")].value == 0
    assert s[("alice", "age")].value == pytest.approx(20 + 30 * 2 / 20 - 40 * 1 / 20)
    assert s[("alice", "gender_female")].value == pytest.approx(1 / (1 + math.exp(-(0.5 + 10 / 20))))
    # bob: 18 tokens; anger = hate, angry, angry; work once, school three times, game twice
    assert s[("bob", "anger")].value == pytest.approx(3 / 18)
    assert s[("bob", "age")].value == pytest.approx(20 + 30 / 18 - 40 * 3 / 18)
    assert s[("bob", "gender_female")].value == pytest.approx(1 / (1 + math.exp(-(0.5 - 20 / 18))))
    assert s[("alice", "joy")].words == 20 and s[("bob", "age")].source == "dd_emnlp14_ageGender"
    # the two users' percentiles within the study
    assert s[("alice", "age")].pct == 75 and s[("bob", "age")].pct == 25


def test_insufficient_text_listed_not_scored(study):
    ws, report = study
    assert (report.scored, report.insufficient_text) == (2, 1)
    with ws.connect() as con:
        status = dict(con.execute("SELECT user_id, status FROM profile_users").fetchall())
    carol = ws.pseudonymizer("user")("carol")
    assert status[carol] == "insufficient_text"
    assert sorted(status.values()) == ["insufficient_text", "scored", "scored"]
    assert carol not in set(read_scores(ws)["user_id"])
    assert "2 users; 1 with fewer than 10 words listed as insufficient text" in report.summary()


def test_intervals_contain_value_and_logistic_stays_a_probability(study):
    ws, _ = study
    df = read_scores(ws)
    ok = df.dropna(subset=["lo", "hi"])
    assert len(ok) == len(df)
    assert ((ok.lo <= ok.value + 1e-12) & (ok.value <= ok.hi + 1e-12)).all()
    g = df[df.dimension == "gender_female"]
    assert ((g.lo >= 0) & (g.hi <= 1)).all()


def test_error_scale_and_interval_shrink_with_words():
    # halves differing by d with w words each: c^2 = mean(d^2 / (2 / w))
    halves = np.array([[[1.0], [0.0]], [[0.0], [2.0]]])
    words = np.array([[100.0, 100.0], [400.0, 400.0]])
    c = error_scale(halves, words)[0]
    assert c == pytest.approx(math.sqrt((1 / (2 / 100) + 4 / (2 / 400)) / 2))
    # the same c gives a four times narrower interval for 16 times the words
    assert (c / math.sqrt(100)) / (c / math.sqrt(1600)) == pytest.approx(4)


def test_percentiles_mid_rank():
    np.testing.assert_allclose(percentiles(np.array([3.0, 1.0, 2.0, np.nan])),
                               [100 * 2.5 / 3, 100 * 0.5 / 3, 100 * 1.5 / 3, np.nan])


def test_split_half_on_constructed_case(tmp_path):
    # six users, two 10-word posts each: a_i then b_i 'happy' words; halves = first, second post
    a, b = [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]
    rows = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for j, k in enumerate((x, y)):
            rows.append({"user_id": f"u{i}", "message_id": f"u{i}m{j}",
                         "created_time": f"2024-01-0{j + 1}T00:00:00Z",
                         "message": " ".join(["happy"] * k + ["day"] * (10 - k))})
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    spec = spec_from_lexica({"nrc_emot": FIX / "nrc_emot.csv"})
    df = split_half(ws, min_words=10, progress=False, spec=spec).set_index("dimension")
    r = np.corrcoef(a, b)[0, 1]
    assert df.loc["joy", "n_users"] == 6
    assert df.loc["joy", "r_halves"] == pytest.approx(r)
    assert df.loc["joy", "reliability"] == pytest.approx(2 * r / (1 + r))
    assert df.loc["joy", "ci_lo"] <= df.loc["joy", "reliability"] <= df.loc["joy", "ci_hi"]
    assert np.isnan(df.loc["anger", "r_halves"])  # nobody is angry: a constant half
    assert list(df.columns) == ["family", "source", "n_users", "r_halves", "reliability", "ci_lo",
                                "ci_hi"]


def test_split_half_stats_needs_three_pairs():
    n, r, rel, lo, hi = split_half_stats(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert n == 2 and np.isnan(rel)


def test_export_columns(study, tmp_path):
    from psyprofile.profiles.export import export_profiles

    ws, _ = study
    assert export_profiles(ws, tmp_path / "p.csv") == 3
    df = pd.read_csv(tmp_path / "p.csv")
    dims = ["anger", "joy", "age", "gender_female"]
    want = (["user_id", "words", "status", "languages", "other_language_share",
             "unsupported_sources"]
            + [d + s for d in dims for s in ("", "_lo", "_hi", "_pct")]
            + ["nrc_emot_coverage", "dd_emnlp14_ageGender_coverage"])
    assert sorted(df.columns) == sorted(want)
    alice = df[df.user_id == ws.pseudonymizer("user")("alice")].iloc[0]
    # alice: 20 tokens; happy x3, smile, joyful are in the fixture's emotion categories
    assert alice.nrc_emot_coverage == pytest.approx(5 / 20) and alice.languages == "en 1.00"
    book = pd.read_csv(tmp_path / "p.codebook.csv").set_index("column")
    assert list(book.index) == list(df.columns)  # every column explained, in order
    assert book.loc["age", "evidence"].startswith("r with self-reported age 0.77 on blog corpus")
    assert book.loc["joy", "evidence"].startswith("no convergent evidence")
    assert "Kiritchenko" in book.loc["joy", "citation"] and book.loc["joy", "languages"] == "en"
    carol = df[df.user_id == ws.pseudonymizer("user")("carol")].iloc[0]
    assert carol.status == "insufficient_text" and carol.words == 4 and np.isnan(carol.joy)
    export_profiles(ws, tmp_path / "p.parquet")
    # a missing text is None in parquet, NaN in CSV (unsupported_sources of a user all scored)
    pq = pd.read_parquet(tmp_path / "p.parquet").fillna(np.nan)
    pd.testing.assert_frame_equal(pq, df, check_dtype=False)
    assert "no score" in book.loc["unsupported_sources", "description"]


def test_card_snapshot_and_cli(study, monkeypatch, tmp_path):
    from psyprofile.cli.main import cli

    ws, _ = study
    monkeypatch.setattr(spec_mod, "default_spec", lambda *a, **k: fixture_spec())  # for the CLI run
    alice = ws.pseudonymizer("user")("alice")
    res = CliRunner().invoke(cli, ["profile", str(ws.path), "--user", alice[:10], "--explain"])
    assert res.exit_code == 0, res.output
    snap = FIX / "card_alice.txt"
    assert res.output == snap.read_text()
    res = CliRunner().invoke(cli, ["profile", str(ws.path), "--min-words", "10", "--quiet",
                                   "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 0, res.output
    assert "profiled 2 users" in res.output and "wrote 3 users" in res.output
    res = CliRunner().invoke(cli, ["profile", str(ws.path), "--user", "zz"])
    assert res.exit_code == 2 and "no user 'zz'" in res.output


def test_profile_texts_one_person_without_a_study():
    texts = ["i am happy today and i smile at work", "joyful love and work all day"]
    out = profile_texts(texts, min_words=10, spec=fixture_spec())
    assert out["status"] == "scored" and out["words"] == 15
    joy = next(s for s in out["scores"] if s["dimension"] == "joy")
    assert joy["value"] == pytest.approx(3 / 15) and joy["lo"] is None and joy["source"] == "nrc_emot"
    assert any("fewer than 600 words" in w for w in out["warnings"])
    assert any("no reference norms" in w for w in out["warnings"])
    short = profile_texts(texts, min_words=100, spec=fixture_spec())
    assert short["status"] == "insufficient_text" and short["scores"] == []
    with pytest.raises(Exception, match="timestamps"):
        profile_texts(texts, timestamps=["2024-01-01"], spec=fixture_spec())


def test_big5_model_must_predict_a_trait():
    from types import SimpleNamespace

    from psyprofile.errors import PsyprofileError
    from psyprofile.profiles.study import model_dimension

    assert model_dimension(SimpleNamespace(name="m", spec={"outcome": "ipip50_extraversion"})) == "extraversion"
    with pytest.raises(PsyprofileError, match="model 'm' predicts 'age'"):
        model_dimension(SimpleNamespace(name="m", spec={"outcome": "age"}))


def test_spec_from_lexica_errors():
    from psyprofile.errors import PsyprofileError

    with pytest.raises(PsyprofileError, match="'fb2000_cp' is not a profile lexicon"):
        spec_from_lexica({"fb2000_cp": FIX / "nrc_emot.csv"})
    with pytest.raises(PsyprofileError, match="none of the categories of nrc_sent"):
        spec_from_lexica({"nrc_sent": FIX / "nrc_emot.csv"})


def test_the_run_remembers_its_spec(study):
    from psyprofile.profiles.study import stored_spec

    ws, _ = study
    assert stored_spec(ws) == fixture_spec()
