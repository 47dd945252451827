"""`psyprofile train`, `predict` and `models list` on a tiny synthetic study."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner
from test_models_synth import make_study

from psyprofile.cli.main import cli


def test_train_save_predict_list(tmp_path):
    ws, raw = make_study(tmp_path / "s", n=100)
    study = str(ws.path)
    runner = CliRunner()
    res = runner.invoke(cli, ["train", study, "--outcome", "age", "--features", "1gram,topics", "--folds", "4",
                              "--bootstrap", "100", "--json", "--save", "age1",
                              "--export-folds", str(tmp_path / "folds.csv")])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["r"] > 0.8 and len(rep["r_ci"]) == 2 and {"n_users", "r2", "mae"} <= set(rep)
    assert (ws.path / "models" / "age1" / "card.md").exists()

    # The exported folds reproduce the same run exactly.
    res2 = runner.invoke(cli, ["train", study, "--outcome", "age", "--features", "1gram,topics",
                               "--fold-file", str(tmp_path / "folds.csv"), "--bootstrap", "100", "--json"])
    assert json.loads(res2.output)["r"] == rep["r"]

    res = runner.invoke(cli, ["predict", study, "--model", "age1", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["scored"] == 100 - 5

    res = runner.invoke(cli, ["models", "list", study])
    assert res.exit_code == 0 and "age1" in res.output and "age (regression)" in res.output

    res = runner.invoke(cli, ["train", study, "--outcome", "age", "--features", "1gram", "--folds", "4",
                              "--bootstrap", "50", "--feature-sets-compare", "--audit-by", "band", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "by band:" in res.output and "excluded users: no_outcome 1, too_few_words 5" in res.output


def test_cli_errors_are_one_line_with_fix(tmp_path):
    ws, _ = make_study(tmp_path / "s", n=40)
    runner = CliRunner()
    res = runner.invoke(cli, ["train", str(ws.path), "--outcome", "band", "--features", "topics",
                              "--task", "regression"])
    assert res.exit_code == 2
    assert "error: outcome 'band' is not numeric" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["predict", str(ws.path), "--model", "nope"])
    assert res.exit_code == 2 and "no model 'nope'" in res.output
    pd.DataFrame({"user_id": ["x"], "fold": [1]}).to_csv(tmp_path / "f.csv", index=False)
    res = runner.invoke(cli, ["train", str(ws.path), "--outcome", "age", "--features", "topics",
                              "--fold-file", str(tmp_path / "f.csv")])
    assert res.exit_code == 2 and "fewer than 2 of its folds hold usable users" in res.output


def test_train_takes_the_penalties_and_inner_folds(tmp_path):
    from psyprofile.models.pipeline import CS

    ws, _ = make_study(tmp_path / "s", n=80)
    runner = CliRunner()
    res = runner.invoke(cli, ["train", str(ws.path), "--outcome", "gender", "--features", "1gram,topics",
                              "--folds", "4", "--bootstrap", "50", "--recipe", "plain", "--Cs", "0.01,0.1",
                              "--inner-folds", "3", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["pipeline"]["estimator"] == "L2 LogisticRegression(C in [0.01, 0.1] by inner CV)"
    assert rep["pipeline"]["inner_folds"] == 3 and rep["auc"] > 0.8
    res = runner.invoke(cli, ["train", str(ws.path), "--outcome", "gender", "--features", "topics",
                              "--Cs", "0.01,-1"])
    assert res.exit_code == 2 and "--Cs takes positive numbers separated by commas" in res.output
    res = runner.invoke(cli, ["train", str(ws.path), "--outcome", "age", "--features", "topics",
                              "--Cs", "0.01"])
    assert res.exit_code == 2 and "'age' is a regression target" in res.output and "Drop --Cs" in res.output
    # the help's default is the estimator's
    help_text = " ".join(runner.invoke(cli, ["train", "--help"]).output.split())
    assert "default " + ",".join(f"{c:g}" for c in CS) + "." in help_text
