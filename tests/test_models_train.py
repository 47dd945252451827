"""Cross-validated training on synthetic studies whose true signal is known."""

from __future__ import annotations

import numpy as np
import pytest
from test_models_synth import make_study

from psyprofile.errors import PsyprofileError
from psyprofile.models.train import (
    TrainOptions,
    build_model,
    cross_validate,
    load_training_data,
    train,
)

FAST = {"n_folds": 5, "n_boot": 200}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("signal") / "s", n=160)[0]


def test_recovers_known_signal(study):
    res = train(study, TrainOptions("age", ["1gram", "topics"], **FAST), progress=False)
    rep = res.report()
    assert rep["r"] > 0.8 and rep["r_ci"][0] < rep["r"] < rep["r_ci"][1]
    assert rep["n_users"] == 160 - 5 - 1
    assert rep["excluded"] == {"no_outcome": 1, "too_few_words": 5, "missing_control": 0}
    assert len(rep["per_fold"]) == 5 and all(f["r"] > 0.5 for f in rep["per_fold"])


def test_noise_gives_no_signal(tmp_path):
    # CV of a shrunk model on noise is slightly negative (each fold is predicted by the mean of
    # the other folds), so |r| < 0.2 is the honest bound, not r ~ 0.
    ws = make_study(tmp_path / "noise", n=200, signal=False, seed=5)[0]
    rep = train(ws, TrainOptions("age", ["1gram", "topics"], **FAST), progress=False).report()
    assert abs(rep["r"]) < 0.2


def test_classification_recovers_signal_with_auc(study):
    opts = TrainOptions("gender", ["topics"], Cs=(0.01, 1.0), inner_folds=3, **FAST)
    rep = train(study, opts, progress=False).report()
    assert rep["task"] == "classification" and rep["classes"] == ["female", "male"]
    assert rep["auc"] > 0.85 and rep["auc_ci"][0] < rep["auc"] < rep["auc_ci"][1]
    assert set(rep) >= {"n_users", "auc", "auc_ci", "accuracy", "f1"}


def test_stack_sqrt_log_pca_controls_and_reports(study):
    opts = TrainOptions("age", ["1gram", "topics"], controls=["gender"], combine="stack", transform="sqrt",
                        target_transform="log", reduce="pca", inner_folds=3, **FAST)
    rep = train(study, opts, compare=True, audit_by=["band"], progress=False).report()
    assert rep["r"] > 0.8
    assert rep["controls_only"]["r"] < rep["r"]
    assert [c["feature_sets"] for c in rep["compare"]] == [["1gram"], ["topics"], ["1gram", "topics"]]
    assert [g["group"] for g in rep["audit"]["band"]] == ["a", "b", "c"]
    assert sum(g["n_users"] for g in rep["audit"]["band"]) == rep["n_users"]


def test_test_fold_outcomes_are_never_seen(study):
    data = load_training_data(study, TrainOptions("age", ["1gram", "topics"], **FAST))
    model, cols = build_model(data, TrainOptions("age", ["1gram", "topics"], combine="stack", inner_folds=3))
    X = data.X[:, cols]
    before = cross_validate(model, X, data.y, data.folds, "regression", progress=False)
    y = data.y.copy()
    y[data.folds == 0] = 1e6  # garbage where fold 0 is the test fold
    after = cross_validate(model, X, y, data.folds, "regression", progress=False)
    assert np.array_equal(before[data.folds == 0], after[data.folds == 0])
    assert not np.allclose(before[data.folds == 1], after[data.folds == 1])


def test_clear_errors(study, tmp_path):
    with pytest.raises(PsyprofileError, match="outcome nope not loaded"):
        train(study, TrainOptions("nope", ["topics"]), progress=False)
    with pytest.raises(PsyprofileError, match="outcome 'band' is not numeric .* Use --task classification"):
        train(study, TrainOptions("band", ["topics"], task="regression"), progress=False)
    with pytest.raises(PsyprofileError, match="feature set 'lda' at level 'user' has not been extracted"):
        train(study, TrainOptions("age", ["lda"]), progress=False)
    with pytest.raises(PsyprofileError, match=r"only 154 users .* too few for 100 folds"):
        train(study, TrainOptions("age", ["topics"], n_folds=100), progress=False)
    with pytest.raises(PsyprofileError, match="--target-transform log needs a positive outcome"):
        with study.connect() as con:
            con.execute("ALTER TABLE outcomes ADD COLUMN centred DOUBLE")
            con.execute("UPDATE outcomes SET centred = age - 30")
            con.execute("ALTER TABLE outcomes ADD COLUMN empty DOUBLE")
        train(study, TrainOptions("centred", ["topics"], target_transform="log"), progress=False)
    with pytest.raises(PsyprofileError, match="outcome 'empty' is empty"):
        train(study, TrainOptions("empty", ["topics"]), progress=False)


def test_ridge_members_for_classification_are_calibrated_and_round_trip(study, tmp_path):
    from psyprofile.models.persist import load_model, save_model

    opts = TrainOptions("gender", ["1gram", "topics"], combine="stack", member_head="ridge",
                        inner_folds=3, **FAST)
    res = train(study, opts, fit_final=True, progress=False)
    assert res.cv["auc"] > 0.85
    assert res.report()["pipeline"]["estimator"].startswith("RidgeCV")
    # Probabilities come from the logistic combining model, even for one member.
    single = train(study, TrainOptions("gender", ["topics"], member_head="ridge", **FAST),
                   fit_final=True, progress=False)
    assert single.model.use_meta_ and single.oof.min() >= 0 and single.oof.max() <= 1
    loaded = load_model(save_model(study, res, str(tmp_path / "m")))
    X = res.data.X
    assert np.abs(loaded.estimator.predict_proba(X) - res.model.predict_proba(X)).max() <= 1e-12
