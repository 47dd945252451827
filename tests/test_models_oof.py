"""`predict` on a model's own training users gives their out-of-fold values; outcome types."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from click.testing import CliRunner
from test_models_synth import make_study

from psyprofile.cli.main import cli
from psyprofile.models.persist import load_model
from psyprofile.models.train import feature_matrix
from psyprofile.store.outcomes import load_outcomes, read_outcomes


def _noisy_outcome(ws, raw, tmp_path):
    """'noisy' = age + much noise: a CV r near .5, where an in-sample fit is far higher."""
    with ws.connect(read_only=True) as con:
        age = read_outcomes(con, ["age"])["age"]
    rng = np.random.default_rng(7)
    pseudo = ws.pseudonymizer("user")
    vals = [age.get(pseudo(u), np.nan) for u in raw]
    noisy = np.asarray(vals) + rng.normal(scale=15.0, size=len(raw))
    csv = tmp_path / "noisy.csv"
    pd.DataFrame({"user_id": raw, "noisy": noisy}).to_csv(csv, index=False)
    load_outcomes(ws, csv)


def test_predict_on_training_users_returns_out_of_fold_values(tmp_path):
    ws, raw = make_study(tmp_path / "s", n=120)
    _noisy_outcome(ws, raw, tmp_path)
    study = str(ws.path)
    runner = CliRunner()
    res = runner.invoke(cli, ["train", study, "--outcome", "noisy", "--features", "1gram,topics",
                              "--folds", "5", "--bootstrap", "50", "--json", "--save", "noisy1"])
    assert res.exit_code == 0, res.output
    cv_r = json.loads(res.output)["r"]
    res = runner.invoke(cli, ["predict", study, "--model", "noisy1", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["out_of_fold"] == 120 - 5 - 1  # every training user
    with ws.connect(read_only=True) as con:
        pred = con.execute("SELECT user_id, value, fit FROM predictions").df().set_index("user_id")
        truth = read_outcomes(con, ["noisy"])["noisy"]
    train_users = pred.index[pred["fit"] == "out_of_fold"]
    r = np.corrcoef(pred.loc[train_users, "value"], truth.loc[train_users])[0, 1]
    assert abs(r - cv_r) < 0.02 and r < 0.8
    # the premise: the saved model's own fit on those users is far better than the CV said
    saved = load_model("noisy1", ws)
    with ws.connect() as con:
        X, _ = feature_matrix(con, ["1gram", "topics"], list(train_users),
                              {s["name"]: s["features"] for s in saved.spec["feature_sets"]})
    in_sample = np.corrcoef(saved.estimator.predict(X), truth.loc[train_users])[0, 1]
    assert in_sample > r + 0.1
    # users without the outcome were not trained on: their scores are applied
    assert set(pred["fit"]) == {"out_of_fold", "applied"}
    assert (pred["fit"] == "applied").sum() == 1


def test_same_name_other_content_does_not_clobber(tmp_path):
    ws, _ = make_study(tmp_path / "s", n=60)
    study = str(ws.path)
    runner = CliRunner()
    other = tmp_path / "elsewhere" / "m"
    for feats, where in (("1gram", "m"), ("topics", str(other))):
        res = runner.invoke(cli, ["train", study, "--outcome", "age", "--features", feats, "--folds", "3",
                                  "--bootstrap", "0", "--quiet", "--save", where])
        assert res.exit_code == 0, res.output
        res = runner.invoke(cli, ["predict", study, "--model", where, "--json"])
        assert res.exit_code == 0, res.output
    with ws.connect(read_only=True) as con:
        counts = con.execute("SELECT model, count(DISTINCT model_hash), count(*) FROM predictions "
                             "GROUP BY model").fetchall()
    assert counts == [("m", 2, 2 * (60 - 5))]


def test_two_valued_numeric_outcome_is_classification(tmp_path):
    ws, raw = make_study(tmp_path / "s", n=80)
    with ws.connect(read_only=True) as con:
        gender = read_outcomes(con, ["gender"])["gender"]
    pseudo = ws.pseudonymizer("user")
    csv = tmp_path / "f.csv"
    pd.DataFrame({"user_id": raw, "female": [float(gender[pseudo(u)] == "female") for u in raw]}
                 ).to_csv(csv, index=False)
    load_outcomes(ws, csv)
    res = CliRunner().invoke(cli, ["train", str(ws.path), "--outcome", "female", "--features", "topics",
                                   "--folds", "4", "--bootstrap", "50", "--Cs", "0.01,1",
                                   "--labels", "female=0:male,1:female"])
    assert res.exit_code == 0, res.output
    assert "female (classification; positive = 1 (female))" in res.output
    assert " auc " in res.output
