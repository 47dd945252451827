"""A saved Big Five model supports the languages it was trained on: its card records the
language mix of its training posts, and the language guard reads it (a model was taken as
English, so a model trained on German posts gave German writers no score)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.io.ingest import ingest
from psyprofile.models.card import supported_languages
from psyprofile.models.persist import load_model, save_model
from psyprofile.models.train import TrainOptions, train
from psyprofile.profiles.study import profile_study, read_scores, read_users
from psyprofile.store.outcomes import store_outcomes
from psyprofile.store.workspace import Workspace

N_USERS = 40
FILLER = [f"wort{i}" for i in range(40)]


def _study(tmp_path) -> Workspace:
    """Users whose extraversion shifts their use of six words, their posts tagged German."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=N_USERS)
    with open(tmp_path / "posts.jsonl", "w") as fh:
        for u in range(N_USERS):
            for k in range(3):
                words = rng.choice(FILLER, size=250).astype(object)
                pick = rng.random(250)
                words[pick < 0.04 * np.exp(0.8 * z[u])] = "feier"
                words[pick > 1 - 0.04 * np.exp(-0.8 * z[u])] = "ruhig"
                fh.write(json.dumps({"user_id": f"u{u:02d}", "text": " ".join(words),
                                     "created_at": f"2024-01-{k + 1:02d}T10:00:00"}) + "\n")
    ws = Workspace.create(tmp_path / "s")
    ingest(ws, [tmp_path / "posts.jsonl"], progress=False)
    with ws.connect() as con:  # the filler is no real language; say the platform tagged it
        con.execute("UPDATE messages SET lang = 'de'")
    store_outcomes(ws, pd.DataFrame({"user_id": [f"u{u:02d}" for u in range(N_USERS)],
                                     "ipip50_extraversion": z}))
    extract_features(ws, FeatureOptions(level="user", ngrams=(1,)), progress=False)
    return ws


def test_a_model_trained_on_german_posts_scores_german_writers(tmp_path):
    ws = _study(tmp_path)
    res = train(ws, TrainOptions(outcome="ipip50_extraversion", feature_sets=["1gram"], n_folds=3,
                                 n_boot=0), fit_final=True, progress=False)
    saved = load_model(str(save_model(ws, res, "extraversion")), ws)
    assert saved.spec["training"]["languages"] == {"de": 1.0}
    assert supported_languages(saved.spec) == {"de"}
    assert "languages of the posts: de 100%; it scores users writing mostly in de" in \
        (saved.path / "card.md").read_text()

    profile_study(ws, big5="extraversion", progress=False)
    users = read_users(ws)
    # the English lexica and VADER give these writers nothing; the German model scores them
    assert (users["status"] == "scored").all()
    ext = read_scores(ws).query("dimension == 'extraversion'")
    assert len(ext) == N_USERS and set(ext["source"]) == {"model:extraversion"}


def test_models_without_a_recorded_mix_are_taken_as_english():
    assert supported_languages({"training": {"n_users": 5}}) == {"en"}
    assert supported_languages({"training": {"languages": {"und": 1.0}}}) == {"en"}
    mix = {"de": 0.9, "en": 0.05, "fr": 0.03, "und": 0.02}
    assert supported_languages({"training": {"languages": mix}}) == {"de", "en"}
