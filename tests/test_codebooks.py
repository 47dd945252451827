"""Every `--out` table gets a codebook beside it; the wide feature export is the long one
pivoted (one row per user, one column per feature), with names quoted safely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from psyprofile.analysis.dla import export_results, run_dla
from psyprofile.analysis.groups import GROUP_COLUMNS, export_groups
from psyprofile.cli.main import cli
from psyprofile.errors import PsyprofileError
from psyprofile.features.export import export_features_wide
from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.features.store import export_features
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.store import export as ex
from psyprofile.store.codebook import CODEBOOK_COLUMNS, codebook_path
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """12 users; their posts hold punctuation (',' and '"' become features) and the word
    'words', which is also the name of the wide table's word-count column."""
    root = tmp_path_factory.mktemp("codebooks")
    rng = np.random.default_rng(3)
    vocab = ["sun", "rain", "words", "tea", "code", ",", '"quoted"', "garden"]
    posts = [{"id": f"p{u}_{k}", "user": f"u{u}", "time": f"2024-02-0{1 + k} 09:00",
              "text": " ".join(rng.choice(vocab, 6)) + " , ok", "region": "NS"[u % 2]}
             for u in range(12) for k in range(3)]
    pd.DataFrame(posts).to_csv(root / "posts.csv", index=False)
    pd.DataFrame({"user_id": [f"u{u}" for u in range(12)],
                  "age": rng.integers(18, 60, 12)}).to_csv(root / "users.csv", index=False)
    w = Workspace.create(root / "study")
    ingest(w, [root / "posts.csv"], columns=ColumnMap(id="id", user="user", time="time",
                                                      text="text", groups=["region"]),
           progress=False)
    load_outcomes(w, root / "users.csv")
    extract_features(w, FeatureOptions(ngrams=(1,), min_words=0), progress=False)
    return w


def _book(path) -> pd.DataFrame:
    book = pd.read_csv(codebook_path(path), keep_default_na=False)
    assert list(book.columns[:len(CODEBOOK_COLUMNS)]) == CODEBOOK_COLUMNS
    return book


def test_wide_is_the_pivot_of_long(ws, tmp_path):
    export_features(ws, "1gram", "user", tmp_path / "long.csv")
    n = export_features_wide(ws, "1gram", "user", tmp_path / "wide.csv")
    long = pd.read_csv(tmp_path / "long.csv", keep_default_na=False)
    wide = pd.read_csv(tmp_path / "wide.csv", keep_default_na=False)
    assert n == len(wide) == 12 and list(wide.columns[:2]) == ["user_id", "words"]
    # the csv writer quoted names with ',' and '"'; 'words' the feature is renamed
    assert {",", '"', "feature:words"} <= set(wide.columns)
    pivot = long.pivot_table(index="group_id", columns="feature", values="group_norm",
                             fill_value=0.0).sort_index()
    pivot = pivot.rename(columns={"words": "feature:words"})
    got = wide.set_index("user_id")[list(pivot.columns)]
    assert list(wide.columns[2:]) == list(pivot.columns)  # nothing more, nothing less
    np.testing.assert_allclose(got.to_numpy(float), pivot.to_numpy(float), rtol=1e-12)
    with ws.connect(read_only=True) as con:
        words = dict(con.execute("SELECT group_id, words FROM group_words WHERE level = 'user'")
                     .fetchall())
    assert dict(zip(wide["user_id"], wide["words"], strict=True)) == words
    book = _book(tmp_path / "wide.csv").set_index("column")
    assert list(book.index) == list(wide.columns)
    assert book.loc["words", "unit"] == "tokens" and book.loc["tea", "type"] == "number"
    assert book.loc["tea", "unit"].startswith("relative frequency")
    assert book.loc["tea", "source"] == "feature set 1gram (ngram, user level)"
    # parquet holds the same table
    export_features_wide(ws, "1gram", "user", tmp_path / "wide.parquet")
    pq = pd.read_parquet(tmp_path / "wide.parquet")
    assert list(pq.columns) == list(wide.columns)
    np.testing.assert_allclose(pq.iloc[:, 2:].to_numpy(float), wide.iloc[:, 2:].to_numpy(float))


def test_a_too_wide_set_names_the_way_out(ws, tmp_path, monkeypatch):
    import psyprofile.features.export as fx

    monkeypatch.setattr(fx, "MAX_WIDE_CELLS", 12 * 5)  # the 1gram set has more features
    with pytest.raises(PsyprofileError, match=r"too wide for one table.*--min-users-pct"):
        export_features_wide(ws, "1gram", "user", tmp_path / "w.csv")
    assert not (tmp_path / "w.csv").exists()


def test_every_export_has_its_codebook(ws, tmp_path):
    for name, fn in (("posts", ex.export_posts), ("outcomes", ex.export_outcomes),
                     ("predictions", ex.export_predictions)):
        out = tmp_path / f"{name}.csv"
        fn(ws, out)
        book = _book(out)
        assert list(book["column"]) == list(pd.read_csv(out, nrows=0).columns), name
        assert (book["type"] != "").all() and (book["description"] != "").all(), name
    posts = _book(tmp_path / "posts.csv").set_index("column")
    assert posts.loc["region", "source"] == "ingest (--group-col)"
    assert posts.loc["created_at", "type"] == "timestamp"
    long = tmp_path / "long.parquet"
    export_features(ws, "1gram", "user", long)
    book = _book(long).set_index("column")
    assert book.loc["group_norm", "unit"].startswith("relative frequency")


def test_dla_and_study_out_codebooks(ws, tmp_path):
    res = run_dla(ws, ["age"], ["1gram"], min_words=0, progress=False)
    export_results(res, tmp_path / "dla.csv")
    book = _book(tmp_path / "dla.csv").set_index("column")
    assert list(book.index) == list(res.columns)
    assert "Pearson r" in book.loc["coef", "description"]
    groups = pd.DataFrame([["region", "N", None, "big5", "openness", 12, 30, 0.1, 0.1, -0.2,
                            0.4, False, False, None, None]], columns=GROUP_COLUMNS)
    export_groups(groups, tmp_path / "groups.parquet")
    book = _book(tmp_path / "groups.parquet").set_index("column")
    assert list(book.index) == list(pd.read_parquet(tmp_path / "groups.parquet").columns)
    assert "bootstrap" in book.loc["ci_lo", "description"]


def test_cli_export_wide(ws, tmp_path):
    out = tmp_path / "w.csv"
    res = CliRunner().invoke(cli, ["export", str(ws.path), "features", "--set", "1gram",
                                   "--wide", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "12 features rows" in res.output and codebook_path(out).is_file()
    res = CliRunner().invoke(cli, ["export", str(ws.path), "posts", "--wide", "--out",
                                   str(tmp_path / "p.csv")])
    assert res.exit_code != 0 and "--wide is for" in res.output
