"""Character n-grams: hand counts, agreement with scikit-learn's char_wb, the CLI and its filter."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from click.testing import CliRunner
from sklearn.feature_extraction.text import CountVectorizer

from psyprofile.cli.main import cli
from psyprofile.errors import PsyprofileError
from psyprofile.features.chars import char_table, parse_lengths, set_name
from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.store.workspace import Workspace


def counts(table) -> dict[tuple[str, str], tuple[float, float]]:
    return {(r["group_id"], r["feature"]): (r["value"], r["group_norm"]) for r in table.to_pylist()}


def test_hand_counted_words_are_padded_and_case_kept():
    got = counts(char_table(["u1", "u1", "u2"], ["Hi! hi", "", "a"], (2, 3)))
    # " Hi! " and " hi ": 2grams " H" "Hi" "i!" "! " " h" "hi" "i " (7), 3grams " Hi" "Hi!"
    # "i! " " hi" "hi " (5); "" adds nothing; " a ": " a" "a " and the 3gram " a ".
    two = [" H", "Hi", "i!", "! ", " h", "hi", "i "]
    three = [" Hi", "Hi!", "i! ", " hi", "hi "]
    want = {("u1", g): (1.0, 1 / 7) for g in two} | {("u1", g): (1.0, 1 / 5) for g in three}
    want |= {("u2", " a"): (1.0, 0.5), ("u2", "a "): (1.0, 0.5), ("u2", " a "): (1.0, 1.0)}
    assert got.keys() == want.keys()
    for k, (v, n) in want.items():
        assert got[k][0] == v and got[k][1] == pytest.approx(n), k


def test_repeated_grams_are_counted_and_rows_sorted():
    t = char_table(["g"], ["aaaa aa"], (2, 2))
    # " aaaa ": " a" "aa" "aa" "aa" "a "; " aa ": " a" "aa" "a "
    assert counts(t) == {("g", " a"): (2.0, 0.25), ("g", "a "): (2.0, 0.25), ("g", "aa"): (4.0, 0.5)}
    keys = list(zip(t.column("group_id").to_pylist(), t.column("feature").to_pylist(), strict=True))
    assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1].encode()))


def test_counts_equal_scikit_learn_char_wb_on_random_text():
    rng = random.Random(7)
    alphabet = [*"abcAB !?.,'é", "😀", "\t", "\n", "  ", "ß"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(400)]
    groups = sorted(rng.choice(["x", "y", "z", "w"]) for _ in texts)
    keep = [True, False, True, True]  # group runs in order: w, x, y, z; x is dropped
    analyzer = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False).build_analyzer()
    want: Counter = Counter()
    for g, text in zip(groups, texts, strict=True):
        if g != "x":
            want.update((g, gram) for gram in analyzer(text))
    got = counts(char_table(groups, texts, (2, 4), keep))
    assert {k: v for k, (v, _) in got.items()} == dict(want)
    for n in (2, 3, 4):  # group_norm: share among the group's n-grams of the same length
        for g in ("w", "y", "z"):
            assert sum(f for (gg, gram), (_, f) in got.items() if gg == g and len(gram) == n) == \
                pytest.approx(1.0)


def test_no_words_gives_an_empty_table():
    assert char_table(["u"], ["  \n\t "], (2, 4)).num_rows == 0
    assert char_table(["u"], ["ab"], (5, 6)).num_rows == 0  # " ab " has 4 characters


@pytest.mark.parametrize("text,bounds", [("2-4", (2, 4)), ("3", (3, 3)), ("1-6", (1, 6))])
def test_parse_lengths(text, bounds):
    assert parse_lengths(text) == bounds


@pytest.mark.parametrize("text", ["0-3", "4-2", "2-9", "a-b", "2,4"])
def test_parse_lengths_rejects_with_an_example(text):
    with pytest.raises(PsyprofileError, match=r"e\.g\. (3 or )?2-4|--chars 2-4"):
        parse_lengths(text)


CSV = """message_id,user_id,created_time,message
m1,u1,2020-01-01 01:00:00,Hi! hi
m2,u2,2020-01-02 03:00:00,hi there
m3,u3,2020-01-03 13:00:00,ok
"""


@pytest.fixture
def ws(tmp_path):
    src = tmp_path / "posts.csv"
    src.write_text(CSV)
    ws = Workspace.create(tmp_path / "study")
    ingest(ws, [src], fmt="csv", columns=ColumnMap(text="message", user="user_id",
           time="created_time", id="message_id"), progress=False)
    return ws


def test_features_command_writes_the_set_and_its_occurrence_filter(ws):
    run = CliRunner().invoke(cli, ["features", str(ws.path), "--chars", "2-3", "--min-users-pct", "0.5",
                                   "--min-words", "0", "--quiet"])
    assert run.exit_code == 0, run.output
    assert "char2to3: " in run.output and "char2to3_occ0.5: " in run.output
    p = ws.pseudonymizer("user")
    with ws.connect(read_only=True) as con:
        full = dict(con.execute('SELECT feature, value FROM "feat$char2to3$user" WHERE group_id = ?',
                                [p("u2")]).fetchall())
        kept = {r[0] for r in con.execute('SELECT DISTINCT feature FROM "feat$char2to3_occ0.5$user"').fetchall()}
        kind = con.execute("SELECT kind FROM feature_sets WHERE name = 'char2to3'").fetchone()[0]
    assert full[" hi"] == 1.0 and full["the"] == 1.0 and kind == "chars"
    # used by 2 of 3 users (>= round(0.5 * 3) = 2): the lowercase "hi" grams; " H" only by u1
    assert {" h", "hi", "i ", " hi", "hi "} <= kept and " H" not in kept and "ok" not in kept
    again = extract_features(ws, FeatureOptions(ngrams=(), chars=(2, 3), min_words=0),
                             progress=False)
    assert "skipped" in again["sets"][set_name(2, 3)]
    # PMI filters word sequences only: the 2grams get a PMI copy, the character set none
    rep = extract_features(ws, FeatureOptions(ngrams=(2,), chars=(2, 3), min_words=0, pmi=3.0),
                           progress=False)
    assert "2gram_pmi3" in rep["sets"] and not any(k.startswith("char2to3_pmi") for k in rep["sets"])


def test_features_command_explains_bad_lengths(ws):
    run = CliRunner().invoke(cli, ["features", str(ws.path), "--chars", "2-9"])
    assert run.exit_code != 0
    assert "1 <= low <= high <= 6" in run.output and "--chars 2-4" in run.output
