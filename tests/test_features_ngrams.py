"""N-gram extraction, group_words, filters and the `features` command, on a hand-counted corpus."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from psyprofile.cli.main import cli
from psyprofile.errors import PsyprofileError
from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.features.occurrence import occurrence_filter, pmi_filter
from psyprofile.features.store import read_matrix
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.store.workspace import Workspace

# Tokens (project tokenizer):
#   u1: [the, cat, sat] [the, cat, ran]          u2: [a, cat, !, a, dog, ?]      u3: [hello]
CSV = """message_id,user_id,created_time,message,region
m1,u1,2020-01-01 01:00:00,the cat sat,north
m2,u1,2020-01-02 03:00:00,The cat ran,south
m3,u2,2020-01-03 13:00:00,a cat! a dog?,north
m4,u3,2020-01-04 23:00:00,hello,
"""


def make_study(tmp_path, csv: str = CSV) -> Workspace:
    src = tmp_path / "posts.csv"
    src.write_text(csv)
    ws = Workspace.create(tmp_path / "study")
    ingest(ws, [src], fmt="csv", columns=ColumnMap(text="message", user="user_id",
           time="created_time", id="message_id", groups=("region",)), progress=False)
    return ws


def rows(ws: Workspace, name: str, level: str = "user") -> dict[tuple[str, str], tuple]:
    with ws.connect() as con:
        got = con.execute(f'SELECT group_id, feature, value, group_norm FROM "feat${name}${level}"').fetchall()
    return {(g, f): (v, n) for g, f, v, n in got}


@pytest.fixture
def ws(tmp_path):
    return make_study(tmp_path)


@pytest.fixture
def uid(ws):
    p = ws.pseudonymizer("user")
    return {u: p(u) for u in ("u1", "u2", "u3")}


def expected(counts: dict[str, dict[str, int]]) -> dict[tuple[str, str], tuple]:
    out = {}
    for g, c in counts.items():
        total = sum(c.values())
        out.update({(g, f): (float(v), v / total) for f, v in c.items()})
    return out



def flat(table: dict) -> dict:
    """{(group, feature): (value, group_norm)} as one float per key (pytest.approx needs flat)."""
    return {(*k, i): x for k, v in table.items() for i, x in enumerate(v)}


def test_user_ngrams_match_hand_counts(ws, uid):
    rep = extract_features(ws, FeatureOptions(ngrams=(1, 2, 3)), progress=False)
    u1, u2, u3 = uid["u1"], uid["u2"], uid["u3"]
    one = {u1: {"the": 2, "cat": 2, "sat": 1, "ran": 1},
           u2: {"a": 2, "cat": 1, "!": 1, "dog": 1, "?": 1}, u3: {"hello": 1}}
    two = {u1: {"the cat": 2, "cat sat": 1, "cat ran": 1},
           u2: {"a cat": 1, "cat !": 1, "! a": 1, "a dog": 1, "dog ?": 1}}
    three = {u1: {"the cat sat": 1, "the cat ran": 1},
             u2: {"a cat !": 1, "cat ! a": 1, "! a dog": 1, "a dog ?": 1}}
    assert flat(rows(ws, "1gram")) == pytest.approx(flat(expected(one)))
    assert flat(rows(ws, "2gram")) == pytest.approx(flat(expected(two)))
    assert flat(rows(ws, "3gram")) == pytest.approx(flat(expected(three)))
    # the union keeps each part's own group_norm
    assert flat(rows(ws, "1to3gram")) == pytest.approx(flat({**expected(one), **expected(two), **expected(three)}))
    assert {k: rep["sets"]["2gram"][k] for k in ("features", "groups", "rows")} == \
        {"features": 8, "groups": 2, "rows": 8}
    assert {k: rep["sets"]["1to3gram"][k] for k in ("features", "groups", "rows")} == \
        {"features": 9 + 8 + 6, "groups": 3, "rows": 10 + 8 + 6}
    with ws.connect() as con:
        gw = con.execute("SELECT group_id, messages, words FROM group_words WHERE level = 'user'").fetchall()
        # stored tables are sorted by (group_id, feature); the union is a view over them
        order = con.execute('SELECT group_id, feature FROM "feat$3gram$user"').fetchall()
        kind = con.execute("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'feat$1to3gram$user'").fetchall()
    assert sorted(gw) == sorted([(u1, 2, 6), (u2, 1, 6), (u3, 1, 1)])
    assert order == sorted(order, key=lambda r: (r[0].encode(), r[1].encode()))
    assert kind == [("VIEW",)]


def test_message_level_sums_to_user_level(ws):
    extract_features(ws, FeatureOptions(level="message", ngrams=(1, 2)), progress=False)
    extract_features(ws, FeatureOptions(level="user", ngrams=(1, 2)), progress=False)
    with ws.connect() as con:
        owner = dict(con.execute("SELECT message_id, user_id FROM messages").fetchall())
    for name in ("1gram", "2gram"):
        summed: dict[tuple[str, str], float] = {}
        for (mid, f), (v, _) in rows(ws, name, "message").items():
            summed[(owner[mid], f)] = summed.get((owner[mid], f), 0) + v
        totals: dict[str, float] = {}
        for (u, _), v in summed.items():
            totals[u] = totals.get(u, 0) + v
        recomputed = {k: (v, v / totals[k[0]]) for k, v in summed.items()}
        assert flat(recomputed) == pytest.approx(flat(rows(ws, name, "user")))


def test_group_column_level_skips_and_counts_missing_values(ws):
    rep = extract_features(ws, FeatureOptions(level="region", ngrams=(1,)), progress=False)
    north = {"the": 1, "cat": 2, "sat": 1, "a": 2, "!": 1, "dog": 1, "?": 1}
    south = {"the": 1, "cat": 1, "ran": 1}
    assert flat(rows(ws, "1gram", "region")) == pytest.approx(flat(expected({"north": north, "south": south})))
    assert rep["messages_without_group"] == 1
    assert any("1 messages without a region value skipped" in n for n in rep["notes"])
    with pytest.raises(PsyprofileError, match="level 'country' is not a group column"):
        extract_features(ws, FeatureOptions(level="country"), progress=False)


def test_min_words_excludes_and_reports(ws, uid):
    rep = extract_features(ws, FeatureOptions(ngrams=(1,), min_words=2), progress=False)
    assert rep["excluded_min_words"] == 1
    assert {g for g, _ in rows(ws, "1gram")} == {uid["u1"], uid["u2"]}
    with ws.connect() as con:  # group_words still describes every group
        assert con.execute("SELECT count(*) FROM group_words WHERE level='user'").fetchall() == [(3,)]


def test_occurrence_filter_keeps_hand_expected_features(ws, uid):
    extract_features(ws, FeatureOptions(ngrams=(1,)), progress=False)
    with ws.connect() as con:
        # groups with >= 2 words: u1, u2; threshold round(0.75 * 2) = 2 -> only 'cat' (both)
        res = occurrence_filter(con, "1gram", "user", 0.75, 2)
        assert (res["name"], res["threshold"], res["eligible_groups"]) == ("1gram_occ0.75", 2, 2)
        # threshold round(0.5 * 2) = 1: all features of u1/u2; 'hello' (only u3) goes
        res = occurrence_filter(con, "1gram", "user", 0.5, 2)
    assert {f for _, f in rows(ws, "1gram_occ0.75")} == {"cat"}
    assert rows(ws, "1gram_occ0.75") == {k: v for k, v in rows(ws, "1gram").items() if k[1] == "cat"}
    assert {f for _, f in rows(ws, "1gram_occ0.5")} == {"the", "cat", "sat", "ran", "a", "!", "dog", "?"}


def test_pmi_filter_hand_computed(ws):
    extract_features(ws, FeatureOptions(ngrams=(1, 2, 3)), progress=False)
    # corpus 1gram counts: the 2, cat 3, sat 1, ran 1, a 2, ! 1, dog 1, ? 1, hello 1; N = 13
    n = 13
    pmi = {
        "the cat": math.log2((2 / n) / ((2 / n) * (3 / n))),           # 2.11
        "a cat": math.log2((1 / n) / ((2 / n) * (3 / n))),             # 1.11
        "! a": math.log2((1 / n) / ((1 / n) * (2 / n))),               # 2.70
        "dog ?": math.log2((1 / n) / ((1 / n) * (1 / n))),             # 3.70
        "! a dog": math.log2((1 / n) / ((1 / n) * (2 / n) * (1 / n))),  # 6.40
        "the cat sat": math.log2((1 / n) / ((2 / n) * (3 / n) * (1 / n))),  # 4.82
    }
    assert pmi["! a"] > 2.5 > pmi["the cat"] and pmi["! a dog"] > 5 > pmi["the cat sat"]
    with ws.connect() as con:
        res = pmi_filter(con, "1to3gram", "user", 2.5)
    kept = {f for _, f in rows(ws, "1to3gram_pmi2.5")}
    assert res["name"] == "1to3gram_pmi2.5"
    # 2grams need PMI > 2.5, 3grams PMI > 5; 1grams always stay
    assert kept == {"the", "cat", "sat", "ran", "a", "!", "dog", "?", "hello",
                    "! a", "a dog", "dog ?", "! a dog", "a dog ?"}


def test_read_matrix_gives_dense_counts(ws, uid):
    extract_features(ws, FeatureOptions(ngrams=(1,)), progress=False)
    with ws.connect() as con:
        m = read_matrix(con, "1gram", "user", groups=[uid["u1"], uid["u2"], uid["u3"]], column="value")
    assert m.features == sorted(["!", "?", "a", "cat", "dog", "hello", "ran", "sat", "the"])
    #                  !  ?  a  cat dog hello ran sat the
    want = np.array([[0, 0, 0, 2, 0, 0, 1, 1, 2],
                     [1, 1, 2, 1, 1, 0, 0, 0, 0],
                     [0, 0, 0, 0, 0, 1, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(m.X.toarray(), want)


def test_read_matrix_keeps_only_asked_groups_and_features_in_their_order(ws, uid):
    extract_features(ws, FeatureOptions(ngrams=(1,)), progress=False)
    with ws.connect() as con:
        m = read_matrix(con, "1gram", "user", groups=[uid["u2"], "nobody", uid["u1"]],
                        column="value", features=["the", "absent", "cat", "!"])
    assert m.groups == [uid["u2"], "nobody", uid["u1"]]
    assert m.features == ["the", "absent", "cat", "!"]
    #                       the absent cat !
    want = np.array([[0, 0, 1, 1],
                     [0, 0, 0, 0],
                     [2, 0, 2, 0]], dtype=float)
    np.testing.assert_array_equal(m.X.toarray(), want)


def test_worker_pool_gives_the_same_tables(tmp_path):
    lines = ["message_id,user_id,created_time,message,region"]
    lines += [f"m{i},u{i % 7},2020-01-01 10:00:00,word{i % 13} and word{i % 5} again {i},r" for i in range(300)]
    ws = make_study(tmp_path, "\n".join(lines) + "\n")
    from psyprofile.features.extract import text_pass

    with ws.connect() as con:
        params = {"1gram": {}, "2gram": {}, "1to2gram": {}}
        text_pass(con, "user", (1, 2), (1, 2), False, None, params, workers=0, progress=False)
        inproc = con.execute('SELECT * FROM "feat$1to2gram$user"').fetchall()
        text_pass(con, "user", (1, 2), (1, 2), False, None, params, workers=2, progress=False,
                  chunk_chars=500)
        pooled = con.execute('SELECT * FROM "feat$1to2gram$user"').fetchall()
    assert pooled == inproc and len(inproc) > 100


def test_cli_end_to_end_and_incremental(ws):
    runner = CliRunner()
    args = ["features", str(ws.path), "--ngrams", "1,2", "--min-users-pct", "0.5", "--pmi", "2.5",
            "--quiet"]
    res = runner.invoke(cli, args)  # the study's min_words (500) leaves no group to count
    assert res.exit_code == 2
    assert "no group has 500 words or more, so no feature can be kept" in res.output
    args += ["--min-words", "2"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "4 messages in 3 user groups" in res.output
    assert "1gram: 8 features, 2 groups, 9 rows" in res.output
    assert "2gram: 8 features, 2 groups, 8 rows" in res.output
    assert "1 user groups with fewer than 2 words left out" in res.output
    assert "1to2gram_occ0.5: " in res.output and "1to2gram_occ0.5_pmi2.5: " in res.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped, up to date") == 8, again.output
    bad = runner.invoke(cli, ["features", str(ws.path), "--ngrams", "1,x"])
    assert bad.exit_code == 2 and "--ngrams takes lengths separated by commas" in bad.output
    # no feature option: 1grams
    default = runner.invoke(cli, ["features", str(ws.path), "--level", "message", "--quiet"])
    assert "1gram: 9 features, 4 groups" in default.output


def test_wide_key_fallback_counts_the_same(monkeypatch):
    from psyprofile.features import ngrams as ng

    toks = [["x", "y", "x", "y"], ["y", "x"], ["z"]]
    fast = ng.ngram_tables(["g1", "g1", "g2"], toks, (1, 2, 3))
    # pretend the (group, ids) key would overflow int64, forcing the row-wise unique
    monkeypatch.setattr(ng.math, "prod", lambda sizes: 2**63)
    wide = ng.ngram_tables(["g1", "g1", "g2"], toks, (1, 2, 3))
    assert all(fast[n].equals(wide[n]) for n in (1, 2, 3))
    assert wide[2].to_pylist() == [
        {"group_id": "g1", "feature": "x y", "value": 2.0, "group_norm": 0.5},
        {"group_id": "g1", "feature": "y x", "value": 2.0, "group_norm": 0.5}]
    assert ng.ngram_tables(["a"], [[]], (1,))[1].num_rows == 0


def test_lexicon_through_features_command_and_rerun(ws, uid, tmp_path):
    lex = tmp_path / "pets.csv"
    lex.write_text("term,category,weight\ncat,PET,1.0\ndog,PET,1.0\n")
    runner = CliRunner()
    args = ["features", str(ws.path), "--lexicon", str(lex), "--quiet"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "note: added 1grams" in res.output and "pets: " in res.output
    got = rows(ws, "pets")
    # u1: cat 2 of 6 tokens; u2: cat + dog, 2 of 6 tokens
    assert got[(uid["u1"], "PET")] == pytest.approx((2.0, 2 / 6))
    assert got[(uid["u2"], "PET")] == pytest.approx((2.0, 2 / 6))
    again = runner.invoke(cli, args)
    assert "pets: skipped, up to date" in again.output and "1gram: skipped" in again.output
    lex.write_text("term,category,weight\ncat,PET,1.0\n")  # a changed file is applied again
    third = runner.invoke(cli, args)
    assert "pets: skipped" not in third.output and "1gram: skipped" in third.output
    assert rows(ws, "pets")[(uid["u2"], "PET")] == pytest.approx((1.0, 1 / 6))


def test_writer_flushes_pieces_in_order(tmp_path, monkeypatch):
    # pieces are buffered and inserted a few at a time; rows keep their order and types
    import pyarrow as pa

    from psyprofile.features.store import FeatureTableWriter

    monkeypatch.setattr(FeatureTableWriter, "FLUSH_ROWS", 3)
    ws = Workspace.create(tmp_path / "study")
    pieces = [pa.table({"group_id": [f"g{i}"] * k, "feature": [f"f{j}" for j in range(k)],
                        "value": list(range(1, k + 1)), "group_norm": [0.5] * k})
              for i, k in enumerate([2, 0, 1, 4, 2])]
    with ws.connect() as con:
        w = FeatureTableWriter(con, "x", "user")
        for p in pieces:
            w.append(p)
        assert w.commit("ngram") == {"features": 4, "groups": 4, "rows": 9}
        got = con.execute('SELECT * FROM "feat$x$user"').fetchall()
    expected = [(g, f, float(v), n) for p in pieces
                for g, f, v, n in zip(*p.to_pydict().values(), strict=True)]
    assert got == expected


def test_mentions_are_one_token_in_features_and_handles_stay_only_in_messages(tmp_path):
    # a handle names another person: no feature row (1grams, 2grams, character n-grams, and so
    # no DLA row built from them) may carry it; the post text keeps it
    csv = ("message_id,user_id,created_time,message,region\n"
           "m1,u1,2020-01-01 01:00:00,thanks @Alice_Smith and @bob99 for today,\n"
           "m2,u2,2020-01-02 01:00:00,@alice_smith see you,\n")
    ws = make_study(tmp_path, csv)
    extract_features(ws, FeatureOptions(ngrams=(1, 2), chars=(3, 4)), progress=False, workers=0)
    handles = ("alice", "bob99")
    with ws.connect() as con:
        feats = [f for (f,) in con.execute(
            'SELECT feature FROM "feat$1gram$user" UNION ALL SELECT feature FROM "feat$2gram$user" '
            'UNION ALL SELECT feature FROM "feat$char3to4$user"').fetchall()]
        texts = " ".join(t for (t,) in con.execute("SELECT text FROM messages").fetchall())
    assert not [f for f in feats if any(h in f.lower() for h in handles)]
    assert rows(ws, "1gram")[(ws.pseudonymizer("user")("u1"), "<user>")][0] == 2.0
    assert "@Alice_Smith" in texts


def test_export_features_writes_the_long_table(ws, tmp_path):
    extract_features(ws, FeatureOptions(ngrams=(1,)), progress=False)
    out = tmp_path / "1gram.csv"
    res = CliRunner().invoke(cli, ["export", str(ws.path), "features", "--set", "1gram",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0] == "group_id,feature,value,group_norm"
    assert len(lines) - 1 == len(rows(ws, "1gram"))


def test_writer_counts_groups_that_span_pieces(tmp_path):
    # the writer counts rows and groups as pieces pass (listing counts only features); a
    # group continued in the next piece, or in a one-row piece, is still one group
    import pyarrow as pa

    from psyprofile.features.store import FeatureTableWriter

    ws = Workspace.create(tmp_path / "study")
    groups = [["a", "a", "b"], ["b"], ["b", "c"], ["d", "d"], ["d"]]
    with ws.connect() as con:
        w = FeatureTableWriter(con, "x", "user")
        for i, gs in enumerate(groups):
            w.append(pa.table({"group_id": gs, "feature": [f"f{i}{j}" for j in range(len(gs))],
                               "value": [1.0] * len(gs), "group_norm": [1.0] * len(gs)}))
        got = w.commit("ngram")
        sql = con.execute('SELECT count(DISTINCT feature), count(DISTINCT group_id), count(*) '
                          'FROM "feat$x$user"').fetchone()
    assert got == {"features": sql[0], "groups": sql[1], "rows": sql[2]} == {
        "features": 9, "groups": 4, "rows": 9}
