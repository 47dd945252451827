"""Ingest, features (1grams + a fixture lexicon), predictions and group study aggregates on the
Dask engine (a real LocalCluster of 2 worker processes) equal the local engine's: same rows,
values to 1e-9, no row lost or duplicated. A worker is killed mid-run in ingest, features,
prediction and the study bootstrap."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_engine import KillOnce, cluster, dask_engine  # noqa: F401  (session fixtures)

from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.io.ingest import ingest
from psyprofile.models.persist import load_model, save_model
from psyprofile.models.predict import predict
from psyprofile.models.train import TrainOptions, train
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "engine"
MOOD = FIX / "mood.csv"
N_USERS, POSTS = 36, 25


def write_corpus(folder: Path) -> tuple[Path, Path]:
    """A posts Parquet file (36 users x 25 posts, 3 unusable rows) and an outcomes CSV whose age
    drives how often a user writes 'tired' and 'w1'."""
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(200)] + ["happy", "glad", "joyful", "sad", "gloomy"]
    rows, ages = [], []
    for u in range(N_USERS):
        age = 18 + 40 * u / N_USERS
        ages.append({"user_id": f"u{u}", "age": age})
        for k in range(POSTS):
            words = list(rng.choice(vocab, size=int(rng.integers(8, 30))))
            words += ["tired", "w1"] * int(rng.random() < age / 60)
            rows.append({"id": f"m{u}_{k}", "user": f"u{u}",
                         "time": f"2024-01-{1 + k % 28:02d} 10:{k:02d}:00", "text": " ".join(words)})
    rows += [{"id": "x1", "user": "u1", "time": "2024-02-01", "text": ""},
             {"id": "x2", "user": "", "time": "2024-02-01", "text": "no author"},
             {"id": "m0_0", "user": "u0", "time": "2024-02-02", "text": "a reused post id"}]
    posts, outcomes = folder / "posts.parquet", folder / "ages.csv"
    pd.DataFrame(rows).to_parquet(posts, index=False)
    pd.DataFrame(ages).to_csv(outcomes, index=False)
    return posts, outcomes


@pytest.fixture(scope="module")
def studies(tmp_path_factory, dask_engine):  # noqa: F811
    """The same corpus through the local engine (default) and through Dask with a kill."""
    root = tmp_path_factory.mktemp("engine")
    posts, ages = write_corpus(root)
    local = Workspace.create(root / "local")
    shutil.copytree(local.path, root / "dask")  # the same study key, so the same pseudonyms
    dask_ws = Workspace.open(root / "dask")
    killer = KillOnce(dask_engine, root / "scratch")
    reports = {
        "local": ingest(local, [posts], chunk_rows=200, progress=False),
        "dask": ingest(dask_ws, [posts], chunk_rows=200, progress=False, engine=killer),
    }
    opts = FeatureOptions(ngrams=(1,), lexica=[str(MOOD)], chars=(2, 3))
    feats = {
        "local": extract_features(local, opts, progress=False, workers=0, chunk_chars=10_000),
        "dask": extract_features(dask_ws, opts, progress=False, engine=killer, chunk_chars=10_000),
    }
    for ws in (local, dask_ws):
        load_outcomes(ws, ages)
    return {"local": local, "dask": dask_ws, "ingest": reports, "features": feats,
            "killer": killer, "root": root}


def table(ws: Workspace, sql: str) -> pd.DataFrame:
    with ws.connect(read_only=True) as con:
        return con.execute(sql).df()


def test_ingest_stores_the_same_rows_once(studies):
    rl, rd = studies["ingest"]["local"], studies["ingest"]["dask"]
    assert studies["killer"].kills >= 1
    assert rl.files[0].counts == rd.files[0].counts == {
        "stored": N_USERS * POSTS, "no_text": 1, "no_user": 1, "duplicate_id": 1}
    sql = ("SELECT message_id, user_id, created_at, text, lang, source, run_id FROM messages "
           "ORDER BY message_id")
    got = table(studies["dask"], sql)
    assert len(got) == got["message_id"].nunique() == N_USERS * POSTS
    pd.testing.assert_frame_equal(got, table(studies["local"], sql))
    assert (table(studies["dask"], "SELECT * FROM ingest_log ORDER BY reason").equals(
        table(studies["local"], "SELECT * FROM ingest_log ORDER BY reason")))


@pytest.mark.parametrize("name", ["1gram", "mood", "char2to3"])
def test_features_equal_the_local_engine(studies, name):
    assert studies["killer"].kills >= 2  # ingest and features each lost a worker
    sql = f'SELECT * FROM "feat${name}$user" ORDER BY group_id, feature'
    want, got = table(studies["local"], sql), table(studies["dask"], sql)
    assert len(want) > 100 and want["group_id"].nunique() == N_USERS
    pd.testing.assert_frame_equal(got[["group_id", "feature"]], want[["group_id", "feature"]])
    for col in ("value", "group_norm"):
        np.testing.assert_allclose(got[col], want[col], rtol=0, atol=1e-9)
    sql = "SELECT * FROM group_words WHERE level = 'user' ORDER BY group_id"
    pd.testing.assert_frame_equal(table(studies["dask"], sql), table(studies["local"], sql))


@pytest.fixture(scope="module")
def model(studies):
    local = studies["local"]
    opts = TrainOptions(outcome="age", feature_sets=["1gram", "mood"], n_folds=2, n_boot=20,
                        min_words=50, alphas=(1.0, 100.0), inner_folds=2)
    path = save_model(local, train(local, opts, fit_final=True, progress=False),
                      studies["root"] / "age_model")
    predict(local, load_model(path))
    want = table(local, PREDICTIONS)
    assert len(want) == N_USERS and want["value"].std() > 1
    return path, want


PREDICTIONS = "SELECT * FROM predictions ORDER BY user_id, outcome"


def same_predictions(got: pd.DataFrame, want: pd.DataFrame) -> None:
    keys = ["user_id", "model", "outcome", "words"]
    pd.testing.assert_frame_equal(got[keys], want[keys])
    for col in ("value", "lo", "hi"):
        np.testing.assert_allclose(got[col], want[col], rtol=0, atol=1e-9)


def test_predictions_equal_the_local_engine(studies, model, dask_engine, cluster):  # noqa: F811
    path, want = model
    rep = predict(studies["dask"], load_model(path), engine=dask_engine, partition_users=5)
    assert rep.scored == N_USERS
    same_predictions(table(studies["dask"], PREDICTIONS), want)
    # the command line: --scheduler joins the running cluster
    from psyprofile.cli.main import cli

    res = CliRunner().invoke(cli, ["predict", str(studies["dask"].path), "--model", str(path),
                                   "--scheduler", cluster.scheduler_address,
                                   "--partition-users", "4"])
    assert res.exit_code == 0, res.output
    assert f"scored {N_USERS:,} users" in res.output
    same_predictions(table(studies["dask"], PREDICTIONS), want)


def test_predictions_after_a_killed_worker(studies, model):
    path, want = model
    killer = KillOnce(studies["killer"].inner, studies["root"] / "scratch_predict")
    predict(studies["dask"], load_model(path), engine=killer, partition_users=5)
    assert killer.kills == 1
    same_predictions(table(studies["dask"], PREDICTIONS), want)


@pytest.mark.parametrize("kill", [False, True])
def test_study_groups_equal_the_local_engine(tmp_path, dask_engine, kill):  # noqa: F811
    from test_study import add_users

    from psyprofile.analysis.groups import StudyOptions, run_study

    ws = Workspace.create(tmp_path / "study")
    add_users(ws, tmp_path, {"north": 12, "south": 15, "east": 3, "west": 11},
              shift={"south": 1.5})
    engine = KillOnce(dask_engine, tmp_path / "scratch", at=1) if kill else dask_engine
    local = run_study(ws, StudyOptions(by=["region"], period="month", scores=("big5", "age"),
                                       min_users=3, allow_smaller_groups=True, n_boot=200),
                      progress=False)
    dist = run_study(ws, StudyOptions(by=["region"], period="month", scores=("big5", "age"),
                                      min_users=3, allow_smaller_groups=True, n_boot=200),
                     progress=False, engine=engine)
    assert dist.run_id == local.run_id + 1 and getattr(engine, "kills", 1) == 1
    for what in ("study_groups", "study_comparisons"):
        sql = f"SELECT * EXCLUDE (run_id) FROM {what} WHERE run_id = ? ORDER BY ALL"
        with ws.connect(read_only=True) as con:
            want = con.execute(sql, [local.run_id]).df()
            got = con.execute(sql, [dist.run_id]).df()
        assert len(want) > 10
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=0, atol=1e-9)
