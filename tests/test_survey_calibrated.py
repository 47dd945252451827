"""The calibrated route, by the commands of docs/calibration.md: a questionnaire subsample
(`survey`) -> a model trained on the surveyed users (`train --save`) -> scores for everyone
(`predict`), with the surveyed users' scores out-of-fold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from psyprofile.cli.main import cli
from psyprofile.survey.inventories import load_inventory

N_USERS, N_SURVEYED = 150, 100
FILLER = [f"word{i}" for i in range(40)]


def _write_inputs(tmp_path, rng):
    """Posts of 150 users whose extraversion z shifts their use of six words, and mini-IPIP
    answers of the first 100, driven by the same z."""
    z = rng.normal(size=N_USERS)
    posts = []
    for u in range(N_USERS):
        p_party = 0.03 * np.exp(0.8 * z[u])
        p_quiet = 0.03 * np.exp(-0.8 * z[u])
        for k in range(3):
            words = rng.choice(FILLER, size=250).astype(object)
            pick = rng.random(250)
            words[pick < p_party] = rng.choice(["party", "friends", "fun"], size=(pick < p_party).sum())
            quiet = (pick >= p_party) & (pick < p_party + p_quiet)
            words[quiet] = rng.choice(["book", "quiet", "alone"], size=quiet.sum())
            posts.append({"user": f"u{u:03d}", "text": " ".join(words), "time": f"2024-01-{k + 1:02d}"})
    pd.DataFrame(posts).to_csv(tmp_path / "posts.csv", index=False)
    inv = load_inventory("mini-ipip")
    rows = []
    for u in range(N_SURVEYED):
        row = {"id": f"u{u:03d}"}
        for item in inv.items:
            latent = z[u] if item.trait == "extraversion" else rng.normal()
            row[item.id] = int(np.clip(np.round(3 + item.key * 1.2 * latent + rng.normal(scale=0.6)), 1, 5))
        rows.append(row)
    pd.DataFrame(rows).to_csv(tmp_path / "answers.csv", index=False)


def test_survey_train_predict_gives_everyone_a_score_and_surveyed_users_out_of_fold(tmp_path):
    _write_inputs(tmp_path, np.random.default_rng(0))
    study = str(tmp_path / "st")
    run = CliRunner().invoke
    steps = [
        ["init", study],
        ["ingest", study, str(tmp_path / "posts.csv"), "--text-col", "text", "--user-col", "user",
         "--time-col", "time", "--quiet"],
        ["survey", study, str(tmp_path / "answers.csv"), "--inventory", "mini-ipip", "--user-col", "id",
         "--bootstrap", "0", "--quiet"],
        ["features", study, "--lexicon", "nrc_sent", "--quiet"],
    ]
    for args in steps:
        res = run(cli, args)
        assert res.exit_code == 0, (args, res.output)
    res = run(cli, ["train", study, "--outcome", "mini-ipip_extraversion", "--features", "1gram,nrc_sent",
                    "--folds", "5", "--bootstrap", "200", "--save", "extraversion", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    # convergent validity: the cross-validated r with the questionnaire, with its CI
    assert rep["n_users"] == N_SURVEYED and rep["r"] > 0.5 and rep["r_ci"][0] < rep["r"] < rep["r_ci"][1]
    res = run(cli, ["predict", study, "--model", "extraversion"])
    assert res.exit_code == 0, res.output
    assert f"scored {N_USERS} users; {N_SURVEYED} of them were training users" in res.output
    out = tmp_path / "predictions.csv"
    assert run(cli, ["export", study, "predictions", "--out", str(out)]).exit_code == 0
    pred = pd.read_csv(out)
    assert pred["fit"].value_counts().to_dict() == {"out_of_fold": N_SURVEYED,
                                                     "applied": N_USERS - N_SURVEYED}
    # profiling with the model uses this model's values only, not those of another model
    # saved elsewhere under the same name
    other = tmp_path / "elsewhere" / "extraversion"
    res = run(cli, ["train", study, "--outcome", "mini-ipip_extraversion", "--features", "nrc_sent",
                    "--folds", "5", "--bootstrap", "0", "--save", str(other), "--quiet"])
    assert res.exit_code == 0, res.output
    assert run(cli, ["predict", study, "--model", str(other)]).exit_code == 0
    res = run(cli, ["profile", study, "--big5", "extraversion", "--quiet"])
    assert res.exit_code == 0, res.output
    from psyprofile.profiles.study import read_scores
    from psyprofile.store.workspace import Workspace

    ext = read_scores(Workspace.open(study)).query("dimension == 'extraversion'")
    assert len(ext) > 0 and ext["user_id"].is_unique
    got = ext.set_index("user_id")["value"]
    assert np.allclose(got, pred.set_index("user_id")["value"].loc[got.index])
