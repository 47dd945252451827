"""Models shipped with psyprofile, and lexicon models (a weighted lexicon applied as a model)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from psyprofile.cli.main import cli
from psyprofile.errors import PsyprofileError
from psyprofile.features.store import write_features, write_group_words
from psyprofile.lexica.load import read_lexicon_file
from psyprofile.models.lexicon_model import build_estimator
from psyprofile.models.persist import (
    build_lexicon_spec,
    bundled_dir,
    list_models,
    load_model,
    write_model,
)
from psyprofile.models.predict import predict
from psyprofile.store.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "models"
LEXICON = FIXTURES / "tiny_agegender.csv"
BUNDLED = ("age-blogs", "gender-blogs", "sap2014-age", "sap2014-gender")

# Hand-written bloggers: three write enough (>= 500 words) for the blog models, one does not.
POSTS = {
    "office": "Another long day at work. The meeting with my boss ran late and my husband "
              "picked up the kids from school. Our mortgage and the budget are on my mind. ",
    "student": "omg school was sooo boring today lol. my mom wont let me go to the mall with "
               "my friends this weekend and i have a huge test in class tomorrow :D ",
    "parent": "We took the children to the lake for the weekend. My daughter caught her first "
              "fish and my son read a whole book. The house needs a new roof this year. ",
    "brief": "hello world, just trying this blog thing out. ",
}
REPEATS = {"office": 20, "student": 20, "parent": 20, "brief": 1}


def _blog_study(root: Path) -> Workspace:
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest

    rows = [(f"{u}-{i}", u, f"2004-0{1 + i % 9}-1{i % 10} 12:00:00", text)
            for u, text in POSTS.items() for i in range(REPEATS[u])]
    csv = root / "posts.csv"
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["message_id", "user_id", "created_time", "message"]).to_csv(csv, index=False)
    ws = Workspace.create(root / "study")
    ingest(ws, [csv], fmt="csv", progress=False,
           columns=ColumnMap(text="message", user="user_id", time="created_time", id="message_id"))
    extract_features(ws, FeatureOptions(ngrams=(1,)), progress=False)
    return ws


@pytest.fixture(scope="module")
def blog_study(tmp_path_factory) -> Workspace:
    return _blog_study(tmp_path_factory.mktemp("bundled"))


def test_bundled_folders_are_complete_and_small():
    for name in BUNDLED:
        folder = bundled_dir() / name
        files = {p.name for p in folder.iterdir()}
        assert {"model.json", "card.md", "card.json"} <= files, name
        assert sum(p.stat().st_size for p in folder.iterdir()) < 3_000_000, name
    listed = {m["name"]: m for m in list_models(None)}
    assert set(BUNDLED) <= set(listed)
    assert listed["sap2014-age"]["kind"] == "lexicon" and listed["age-blogs"]["kind"] == "trained"
    assert listed["age-blogs"]["feature_sets"] == ["1gram"]


@pytest.mark.parametrize("name", ["age-blogs", "gender-blogs"])
def test_new_study_is_scored_by_a_blog_model(blog_study, name):
    saved = load_model(name, blog_study)
    assert saved.spec["min_words"] == 500
    with pytest.warns(UserWarning, match="features of set '1gram' are absent"):
        report = predict(blog_study, saved)
    assert (report.scored, report.too_few_words) == (3, 1)
    with blog_study.connect(read_only=True) as con:
        df = con.sql(f"SELECT * FROM predictions WHERE model = '{name}'").df()
    assert len(df) == 3
    assert np.isfinite(df[["value", "lo", "hi"]].to_numpy()).all()
    assert (df["lo"] < df["value"]).all() and (df["value"] < df["hi"]).all()
    assert (df["words"] >= 500).all()
    if name == "age-blogs":
        assert df["value"].between(10, 60).all()
    else:
        assert df["outcome"].eq("gender=1").all() and df["value"].between(0, 1).all()


def test_predict_cli_with_bundled_model(blog_study):
    res = CliRunner().invoke(cli, ["predict", str(blog_study.path), "--model", "age-blogs", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert (out["scored"], out["too_few_words"]) == (3, 1)


def test_models_show_prints_the_card():
    runner = CliRunner()
    res = runner.invoke(cli, ["models", "show", "age-blogs"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("# Model card: age-blogs")
    assert "| r | 0." in res.output and "DLATK 1.3.15's own folds" in res.output
    res = runner.invoke(cli, ["models", "show", "sap2014-gender", "--json"])
    card = json.loads(res.output)
    assert card["kind"] == "lexicon" and card["evaluation_optimistic"] is True
    assert card["lexicon"]["name"] == "dd_emnlp14_ageGender"


# --- lexicon models on a hand-made 1gram table --------------------------------------------

GN = {  # user -> {1gram: group_norm}; words per user below
    "u1": {"happy": 0.02, "work": 0.01, ":D": 0.005, "other": 0.3},
    "u2": {"work": 0.04, "happy": 0.0},
    "u3": {"other": 0.5},
    "u4": {"happy": 0.1},
}
WORDS = {"u1": 800, "u2": 600, "u3": 1000, "u4": 50}


def _lexicon_study(root: Path) -> Workspace:
    ws = Workspace.create(root)
    rows = [(u, f, gn * WORDS[u], gn) for u, feats in GN.items() for f, gn in feats.items()]
    with ws.connect() as con:
        write_features(con, "1gram", "user",
                       pd.DataFrame(rows, columns=["group_id", "feature", "value", "group_norm"]), kind="ngram")
        write_group_words(con, "user", pd.DataFrame(
            {"group_id": list(WORDS), "messages": 1, "words": list(WORDS.values())}))
    return ws


def _lexicon_model(folder: Path, category: str, task: str) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(LEXICON, folder / LEXICON.name)
    lexicon = read_lexicon_file(LEXICON)
    spec = build_lexicon_spec(
        folder.name, lexicon=lexicon, lexicon_ref=LEXICON.name, category=category,
        outcome="age" if task == "regression" else "gender", task=task,
        classes=None if task == "regression" else ["0", "1"], min_words=100,
        evaluation={"n_users": 3, "r": 0.5, "r_ci": [0.1, 0.9], "auc": 0.7, "auc_ci": [0.6, 0.8]},
        reliability={"a": 2.0, "b": 10.0}, scoring="sum of weight x group_norm + intercept",
        training={"study": "t", "n_users": 3, "n_posts": 3, "date_range": [None, None]},
        optimistic=True)
    return write_model(folder, spec, None)


def _scores(ws: Workspace, folder: Path) -> dict[str, float]:
    saved = load_model(folder)
    report = predict(ws, saved)
    assert (report.scored, report.too_few_words) == (3, 1)
    with ws.connect(read_only=True) as con:
        rows = con.execute("SELECT user_id, value FROM predictions WHERE model = ?", [saved.name]).fetchall()
    return dict(rows)


@pytest.mark.filterwarnings("ignore:25% of model .* absent from this study")
def test_lexicon_model_score_is_weighted_sum_plus_intercept(tmp_path):
    ws = _lexicon_study(tmp_path / "s")
    age = _scores(ws, _lexicon_model(tmp_path / "lex-age", "AGE", "regression"))
    # u1: -10*.02 + 20*.01 - 5*.005 (':D' reads the lexicon's ':d') + 25
    assert age == pytest.approx({"u1": 24.975, "u2": 25.8, "u3": 25.0}, abs=1e-12)
    gender = _scores(ws, _lexicon_model(tmp_path / "lex-gender", "GENDER", "classification"))
    score = {"u1": 1.5 * .02 - 2 * .01 + .5 * .005 - .25, "u2": -2 * .04 - .25, "u3": -.25}
    assert gender == pytest.approx({u: 1 / (1 + math.exp(-s)) for u, s in score.items()}, abs=1e-12)


def test_lexicon_model_round_trip_and_card(tmp_path):
    folder = _lexicon_model(tmp_path / "lex", "AGE", "regression")
    a, b = load_model(folder), load_model(folder)
    assert a.estimator.features == b.estimator.features and ":D" in a.estimator.features
    assert np.array_equal(a.estimator.weights, b.estimator.weights)
    assert not (folder / "arrays.npz").exists()
    card = json.loads((folder / "card.json").read_text())
    assert card["lexicon"]["category"] == "AGE" and card["evaluation_metrics"]["r"]["value"] == 0.5
    assert "Optimistic" in (folder / "card.md").read_text()


def test_changed_lexicon_is_refused(tmp_path):
    folder = _lexicon_model(tmp_path / "lex", "AGE", "regression")
    text = (folder / LEXICON.name).read_text().replace("work,AGE,20.0", "work,AGE,21.0")
    (folder / LEXICON.name).write_text(text)
    with pytest.raises(PsyprofileError, match="tiny_agegender.csv changed after the model was saved"):
        load_model(folder)
    # Behind the folder's integrity record, the recorded weights still catch the change.
    from psyprofile.models.integrity import sign

    sign(folder)
    with pytest.raises(PsyprofileError, match="category 'AGE' .* differ from those the model was built with"):
        load_model(folder)


def test_unknown_category_is_a_clear_error():
    with pytest.raises(PsyprofileError, match="has no category 'SEX' \\(it has: AGE, GENDER\\)"):
        build_estimator(read_lexicon_file(LEXICON), "SEX", "regression")
