"""LDA topics: recovered on a corpus with two obvious topics, reproducible with a seed,
and usable by another study through CSV export."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from psyprofile.errors import InputError
from psyprofile.features.lexicon import extract_lexicon
from psyprofile.features.store import write_features
from psyprofile.features.topics import top_words, train_topics
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.lexica.load import read_csv, write_csv
from psyprofile.lexica.registry import load_stored
from psyprofile.store.workspace import Workspace

PETS = ["cat", "dog", "puppy", "kitten", "leash", "vet"]
MONEY = ["stock", "market", "price", "trade", "invest", "bond"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    rng = random.Random(1)
    rows = []
    for i in range(80):
        words = PETS if i % 2 else MONEY
        rows.append({"user_id": f"u{i % 20}", "date": "2020-01-01",
                     "message": " ".join(rng.choice(words) for _ in range(12))})
    tmp = tmp_path_factory.mktemp("topics")
    pd.DataFrame(rows).to_csv(tmp / "posts.csv", index=False)
    ws = Workspace.create(tmp / "study")
    ingest(ws, [tmp / "posts.csv"], columns=ColumnMap(text="message", user="user_id", time="date"),
           progress=False)
    return ws


def fit(ws, name, seed=3):
    return train_topics(ws, k=2, name=name, seed=seed, max_iter=10, min_df=1, min_users=1,
                        stopwords=0, batch_size=32, progress=False)


def weight_map(lex):
    """{(term, topic): weight} of a lexicon."""
    cols = (lex.entries.column(c).to_pylist() for c in ("term", "category", "weight"))
    return {(t, c): x for t, c, x in zip(*cols, strict=True)}


def topic_sets(ws, name):
    return {frozenset(w for w, _ in words) for words in top_words(ws, name, top=6).values()}


def test_two_topics_are_recovered_and_reproducible(study):
    out = fit(study, "two")
    assert out["topics"] == 2 and out["documents"] == 80 and out["vocabulary"] == 12
    assert topic_sets(study, "two") == {frozenset(PETS), frozenset(MONEY)}
    # each word belongs almost surely to its own topic: p(topic | word) near 1
    with study.connect() as con:
        lex = load_stored(con, "two")
    weights = weight_map(lex)
    pet_topic = max(("0", "1"), key=lambda t: weights.get(("cat", t), 0))
    assert all(weights[(w, pet_topic)] > 0.95 for w in PETS)
    fit(study, "again")
    with study.connect() as con:
        again = load_stored(con, "again")
    assert again.entries.equals(lex.entries)  # same seed, same topics
    fit(study, "other_seed", seed=4)
    assert topic_sets(study, "other_seed") == {frozenset(PETS), frozenset(MONEY)}


def test_export_load_apply_round_trip(study, tmp_path):
    fit(study, "rt")
    with study.connect() as con:
        lex = load_stored(con, "rt")
    write_csv(lex, tmp_path / "rt.csv")
    loaded = read_csv(tmp_path / "rt.csv")
    assert loaded.weighted and loaded.entries.sort_by("term").equals(lex.entries.sort_by("term"))
    other = Workspace.create(tmp_path / "other")
    counts = {"a": {"cat": 3, "dog": 1}, "b": {"stock": 2, "the": 2}}
    rows = [(g, f, c, c / sum(fc.values())) for g, fc in counts.items() for f, c in fc.items()]
    with other.connect() as con:
        write_features(con, "1gram", "user", pd.DataFrame(rows, columns=["group_id", "feature", "value", "group_norm"]),
                       kind="ngram")
    extract_lexicon(other, str(tmp_path / "rt.csv"), progress=False)
    with other.connect() as con:
        got = dict(((g, f), n) for g, f, n in con.execute(
            'SELECT group_id, feature, group_norm FROM "feat$rt$user"').fetchall())
    pet = max(("0", "1"), key=lambda t: got.get(("a", t), 0))
    money = "1" if pet == "0" else "0"
    w = weight_map(loaded)
    assert got[("a", pet)] == pytest.approx(0.75 * w[("cat", pet)] + 0.25 * w[("dog", pet)])
    assert got[("a", pet)] > 0.95
    assert got[("b", money)] == pytest.approx(0.5 * w[("stock", money)])  # 'the' is in no topic
    assert got[("a", "_intercept")] == 1.0


def test_too_little_text_is_a_clear_error(study):
    with pytest.raises(InputError, match="too little text for 50 topics: 80 messages and 12 words"):
        train_topics(study, k=50, min_df=1, min_users=1, stopwords=0, progress=False)


def test_cli_train_show_export(study, tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    run = CliRunner().invoke
    res = run(cli, ["topics", "train", str(study.path), "--k", "2", "--name", "cli2", "--seed", "3",
                    "--min-df", "1", "--min-users", "1", "--stopwords", "0", "--max-iter", "10",
                    "--quiet"])
    assert res.exit_code == 0, res.output
    assert "trained 2 topics 'cli2' on 80 messages, 12 words" in res.output
    res = run(cli, ["topics", "show", str(study.path), "cli2", "--top", "6"])
    shown = {frozenset(line.split(":")[1].split()) for line in res.output.splitlines()}
    assert shown == {frozenset(PETS), frozenset(MONEY)}
    out = tmp_path / "cli2.csv"
    res = run(cli, ["topics", "export", str(study.path), "cli2", "--out", str(out)])
    assert res.exit_code == 0 and read_csv(out).weighted
    res = run(cli, ["topics", "export", str(study.path), "nope", "--out", str(out)])
    assert res.exit_code == 2 and "no topic model or lexicon 'nope'" in res.output
