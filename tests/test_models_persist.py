"""Saved models: exact round trip, refusal of tampered or foreign files, cards, predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_models_synth import make_study

from psyprofile.errors import PsyprofileError
from psyprofile.models.persist import list_models, load_model, save_model
from psyprofile.models.predict import fit_reliability, predict, sigma
from psyprofile.models.train import TrainOptions, train


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    ws = make_study(tmp_path_factory.mktemp("persist") / "s", n=120)[0]
    opts = TrainOptions("gender", ["1gram", "topics"], controls=["age"], combine="stack", transform="sqrt",
                        n_folds=4, n_boot=100, Cs=(0.1,), inner_folds=3)
    res = train(ws, opts, fit_final=True, progress=False)
    folder = save_model(ws, res, "gender_model")
    return ws, res, folder


def test_save_load_round_trip_predicts_identically(saved):
    ws, res, folder = saved
    assert folder == ws.path / "models" / "gender_model"
    loaded = load_model("gender_model", ws)
    X = res.data.X
    assert np.abs(loaded.estimator.predict_proba(X) - res.model.predict_proba(X)).max() <= 1e-12
    assert loaded.spec["classes"] == ["female", "male"]
    assert not list(folder.glob("*.pkl")) and sorted(p.name for p in folder.iterdir()) == [
        "arrays.npz", "card.json", "card.md", "model.json"]


def test_regression_round_trip_with_pca_and_log(tmp_path):
    ws = make_study(tmp_path / "s", n=80)[0]
    opts = TrainOptions("age", ["1gram", "topics"], reduce="pca", target_transform="log", n_folds=3, n_boot=50)
    res = train(ws, opts, fit_final=True, progress=False)
    loaded = load_model(save_model(ws, res, str(tmp_path / "elsewhere" / "m")))
    assert np.abs(loaded.estimator.predict(res.data.X) - res.model.predict(res.data.X)).max() <= 1e-12


def test_tampered_arrays_are_refused(saved, tmp_path):
    _, _, folder = saved
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in folder.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    data = bytearray((bad / "arrays.npz").read_bytes())
    data[100] ^= 0xFF
    (bad / "arrays.npz").write_bytes(bytes(data))
    with pytest.raises(PsyprofileError, match="arrays.npz does not match the checksum in model.json"):
        load_model(bad)


def test_foreign_or_future_files_are_refused(saved, tmp_path):
    _, _, folder = saved
    spec = json.loads((folder / "model.json").read_text())
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "model.json").write_text(json.dumps({**spec, "format_version": 2}))
    with pytest.raises(PsyprofileError, match="model format version 2, but this psyprofile .* reads version 1"):
        load_model(tmp_path / "v2")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.json").write_text(json.dumps({"weights": [1, 2]}))
    with pytest.raises(PsyprofileError, match="its 'format' is not 'psyprofile-model'"):
        load_model(tmp_path / "other")
    with pytest.raises(PsyprofileError, match="no model 'missing'.*known: gender_model"):
        load_model("missing", saved[0])


def test_card_states_data_metrics_and_uses(saved):
    _, res, folder = saved
    card = json.loads((folder / "card.json").read_text())
    assert card["training_data"]["n_users"] == res.data.X.shape[0]
    assert card["training_data"]["n_posts"] == res.data.X.shape[0]
    assert card["cv_metrics"]["auc"]["value"] == pytest.approx(res.cv["auc"])
    assert card["controls_only_baseline"]["auc"]["value"] is not None
    md = (folder / "card.md").read_text()
    assert "Decisions about individual people" in md and "Clinical diagnosis" in md
    assert [m["name"] for m in list_models(saved[0]) if m["where"] == "study"] == ["gender_model"]
    # the study's folder lists the same models as the open workspace
    assert list_models(saved[0].path) == list_models(saved[0])


def test_listing_models_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = ("import sys; from psyprofile.models.persist import list_models, resolve; "
            "list_models(None); resolve('age-blogs'); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_predict_scores_users_with_intervals(saved):
    ws, _, _ = saved
    loaded = load_model("gender_model", ws)
    report = predict(ws, loaded)
    assert report.too_few_words == 5 and report.missing_control == 1
    assert report.missing_features == {"1gram": 0.0, "topics": 0.0}
    with ws.connect() as con:
        rows = con.execute("SELECT outcome, value, lo, hi, words FROM predictions").fetchall()
    assert len(rows) == report.scored == 120 - 5 - 1
    assert {r[0] for r in rows} == {"gender=male"}
    assert all(0 <= lo <= v <= hi <= 1 and w >= 500 for _, v, lo, hi, w in rows)


def test_predict_refuses_study_without_the_feature_sets(saved, tmp_path):
    from psyprofile.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "empty")
    with pytest.raises(PsyprofileError, match="needs the feature sets 1gram, topics, which this study does not"):
        predict(ws, load_model(saved[2]))


def test_reliability_fit_recovers_error_law():
    rng = np.random.default_rng(0)
    words = rng.integers(100, 10_000, size=5000)
    true = 1.0 + 30.0 / np.sqrt(words)
    resid = np.abs(rng.normal(scale=true * np.sqrt(np.pi / 2) / np.sqrt(np.pi / 2)))
    rel = fit_reliability(resid, words)
    # E|N(0, s)| = s sqrt(2/pi): the fit recovers s sqrt(2/pi), and sigma() undoes the factor.
    assert sigma(rel, np.array([400]))[0] == pytest.approx(1.0 + 30.0 / 20, rel=0.1)
