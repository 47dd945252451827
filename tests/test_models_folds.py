"""Folds by user: seeded, stratified, and round-tripped through a fold file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_models_synth import N_WORDS_SHORT, make_study

from psyprofile.errors import InputError, PsyprofileError
from psyprofile.models.folds import assign_folds, make_folds, read_fold_file, write_fold_file
from psyprofile.models.train import TrainOptions, load_training_data


def test_folds_are_seeded_balanced_and_stratified():
    y = np.array([0] * 30 + [1] * 70)
    a = make_folds(y, 10, seed=3, task="classification")
    assert np.array_equal(a, make_folds(y, 10, seed=3, task="classification"))
    assert not np.array_equal(a, make_folds(y, 10, seed=4, task="classification"))
    for k in range(10):
        assert (y[a == k] == 0).sum() == 3 and (y[a == k] == 1).sum() == 7
    r = make_folds(np.arange(23.0), 5, seed=0, task="regression")
    assert sorted(np.bincount(r).tolist()) == [4, 4, 5, 5, 5]


def test_too_few_users_for_folds_is_a_clear_error():
    with pytest.raises(PsyprofileError, match="only 15 users .* too few for 10 folds"):
        make_folds(np.arange(15.0), 10, 0, "regression")
    with pytest.raises(PsyprofileError, match="rarest class has only 3 users"):
        make_folds(np.array([0] * 3 + [1] * 30), 5, 0, "classification")


def test_fold_file_round_trip(tmp_path):
    users = [f"p{i}" for i in range(40)]
    folds = make_folds(np.arange(40.0), 4, 1, "regression")
    write_fold_file(tmp_path / "f.csv", users, folds)
    ff = read_fold_file(tmp_path / "f.csv", pseudonymize=lambda u: "never called " + u)
    back, found = assign_folds(users, ff)
    assert found.all() and np.array_equal(back, folds)


def test_raw_id_fold_file_is_pseudonymised_and_missing_users_counted(tmp_path):
    ws, raw = make_study(tmp_path / "s", n=80)
    # Every usable user but the last 4, in 4 folds numbered 1..4 as DLATK numbers them.
    usable = raw[N_WORDS_SHORT + 1:]
    pd.DataFrame({"user_id": usable[:-4], "fold": [1 + i % 4 for i in range(len(usable) - 4)]}).to_csv(
        tmp_path / "folds.csv", index=False)
    data = load_training_data(ws, TrainOptions("age", ["topics"], fold_file=tmp_path / "folds.csv"))
    assert data.excluded["not_in_fold_file"] == 4
    assert len(data.users) == len(usable) - 4
    pseudo = ws.pseudonymizer("user")
    expected = {pseudo(u): i % 4 for i, u in enumerate(usable[:-4])}
    assert [expected[u] for u in data.users] == data.folds.tolist()


def test_bad_fold_file_names_row_and_fix(tmp_path):
    (tmp_path / "f.csv").write_text("user_id,fold\na,1\nb,x\n")
    with pytest.raises(InputError, match=r"f.csv, row 3: the fold must be a whole number"):
        read_fold_file(tmp_path / "f.csv", str)
    (tmp_path / "g.csv").write_text("id,k\na,1\n")
    with pytest.raises(InputError, match="needs the columns 'user_id'"):
        read_fold_file(tmp_path / "g.csv", str)
