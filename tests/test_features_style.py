"""Style measures on hand-made users, checked against counts done by hand."""

from __future__ import annotations

import pytest

from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.features.style import STYLE_FEATURES, style_table
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.store.workspace import Workspace
from psyprofile.text import readability
from psyprofile.text.tokenize import tokenize

TEXTS = ["I love my cat. Do you love cats?",
         "WE ARE HERE!!! Sooo happy \U0001F600 :) http://example.com @bob #fun"]
# tokens: [i, love, my, cat, ., do, you, love, cats, ?]                       10 tokens, 9 types
#         [we, are, here, !!!, sooo, happy, 😀, :), http://example.com, @bob, #fun]  11 tokens
WORDS = 21


def values(table) -> dict[str, float]:
    d = table.to_pydict()
    assert d["value"] == d["group_norm"]
    return dict(zip(d["feature"], d["value"], strict=True))


def test_tokens_are_what_the_hand_counts_assume():
    assert [len(tokenize(t)) for t in TEXTS] == [10, 11]


def test_style_rates_by_hand():
    toks = [tokenize(t) for t in TEXTS]
    v = values(style_table(["u", "u"], TEXTS, toks, [1.0, 3.0]))
    assert v["messages"] == 2 and v["words"] == WORDS and v["words_per_message"] == 10.5
    assert v["type_token_ratio"] == pytest.approx(20 / 21)  # 'love' repeats
    assert v["fps_rate"] == pytest.approx(2 / WORDS)  # i, my
    assert v["fpp_rate"] == pytest.approx(1 / WORDS)  # we
    assert v["second_person_rate"] == pytest.approx(1 / WORDS)  # you
    assert v["question_marks_per_message"] == 0.5
    assert v["exclamations_per_message"] == 1.5  # three '!' in two posts
    assert v["allcaps_rate"] == pytest.approx(3 / WORDS)  # WE ARE HERE ('I' is one letter)
    for name in ("emoji_rate", "emoticon_rate", "url_rate", "mention_rate", "hashtag_rate",
                 "elongated_rate"):
        assert v[name] == pytest.approx(1 / WORDS), name
    assert v["night_share"] == 1.0 and v["mean_hour"] == pytest.approx(2.0)
    # readability is averaged over messages (its counts are checked in test_readability)
    per_message = [readability.counts(t) for t in TEXTS]
    assert v["flesch_reading_ease"] == pytest.approx(
        sum(readability.flesch_reading_ease(c) for c in per_message) / 2)
    assert v["flesch_kincaid_grade"] == pytest.approx(
        sum(readability.flesch_kincaid_grade(c) for c in per_message) / 2)
    assert set(v) == set(STYLE_FEATURES)


def test_hours_wrap_around_midnight_and_missing_times_drop_hour_measures():
    toks = [["hi"], ["yo"], ["a"], ["b"]]
    rows = style_table(["a", "a", "b", "b"], ["hi", "yo", "a", "b"], toks, [23.0, 1.0, None, None])
    by_group = {}
    for g, f, x in zip(*(rows.column(c).to_pylist() for c in ("group_id", "feature", "value")),
                       strict=True):
        by_group.setdefault(g, {})[f] = x
    assert by_group["a"]["mean_hour"] == pytest.approx(0.0) and by_group["a"]["night_share"] == 0.5
    assert "mean_hour" not in by_group["b"] and "night_share" not in by_group["b"]
    assert by_group["b"]["type_token_ratio"] == 1.0
    # opposite hours cancel: no mean hour
    opp = values(style_table(["c", "c"], ["x", "y"], [["x"], ["y"]], [1.0, 13.0]))
    assert "mean_hour" not in opp and opp["night_share"] == 0.5


def test_style_through_extract_features(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("id,user,time,text\n"
                   f"1,u1,2021-03-01 01:00:00,{TEXTS[0]}\n"
                   f'2,u1,2021-03-01 03:00:00,"{TEXTS[1]}"\n'
                   "3,u2,2021-03-01 12:00:00,Hello you. How are you?\n")
    ws = Workspace.create(tmp_path / "s")
    ingest(ws, [src], fmt="csv", columns=ColumnMap(text="text", user="user", time="time", id="id"),
           progress=False)
    rep = extract_features(ws, FeatureOptions(ngrams=(), style=True), progress=False)
    assert rep["sets"]["style"]["groups"] == 2
    with ws.connect() as con:
        got = dict(con.execute(
            "SELECT feature, value FROM \"feat$style$user\" WHERE group_id = ?",
            [ws.pseudonymizer("user")("u2")]).fetchall())
        words = con.execute("SELECT words FROM group_words WHERE level='user' AND group_id = ?",
                            [ws.pseudonymizer("user")("u2")]).fetchall()
    # [hello, you, ., how, are, you, ?]: 7 tokens, 6 types, 2 second-person, 1 '?'
    assert got["words"] == 7 and words == [(7,)]
    assert got["second_person_rate"] == pytest.approx(2 / 7)
    assert got["type_token_ratio"] == pytest.approx(6 / 7)
    assert got["question_marks_per_message"] == 1 and got["night_share"] == 0
    assert got["mean_hour"] == pytest.approx(12.0)
