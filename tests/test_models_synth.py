"""A tiny synthetic study whose true signal is known, for the model tests (no tests here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from psyprofile.features.store import write_features, write_group_words
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace

N_WORDS_SHORT = 5  # users given fewer words than the default minimum (500)


def make_study(root: Path, n: int = 200, signal: bool = True, seed: int = 0) -> tuple[Workspace, list[str]]:
    """A study of ``n`` users with sets '1gram' (40 word frequencies) and 'topics' (6 scores).

    With ``signal`` the outcome ``age`` is a linear function of a latent trait that also
    drives 5 words and 3 topics; without it, age is independent noise. ``gender`` (text)
    is the sign of the trait (so it is learnable), ``band`` a 3-level text column.
    Returns the workspace and the raw user ids.
    """
    rng = np.random.default_rng(seed)
    ws = Workspace.create(root)
    # A fixed key: pseudonyms decide the users' order and so the folds, and a random key
    # would make every CV figure of these tests change from run to run.
    ws.key_path.write_text(bytes([seed % 256]) .hex() * 32 + "\n")
    # the study records the fingerprint of the key it was created with; forget it so that
    # opening it again records the fixed key's
    with duckdb.connect(str(ws.path / "study.duckdb")) as con:
        con.execute("DELETE FROM meta WHERE key = 'key_fingerprint'")
    ws = Workspace.open(root)
    raw = [f"user{i:04d}" for i in range(n)]
    pseudo = ws.pseudonymizer("user")
    users = [pseudo(u) for u in raw]
    z = rng.normal(size=n)
    words = rng.integers(600, 3000, size=n)
    words[:N_WORDS_SHORT] = 100
    base = rng.uniform(0.002, 0.02, size=40)
    rates = np.tile(base, (n, 1))
    rates[:, :5] *= np.exp(0.9 * z)[:, None]
    counts = rng.poisson(rates * words[:, None])
    topics = rng.normal(size=(n, 6))
    topics[:, :3] += 2.0 * z[:, None]
    rows = [(users[i], f"w{j:02d}", float(counts[i, j]), counts[i, j] / words[i])
            for i in range(n) for j in range(40) if counts[i, j] > 0]
    ngrams = pd.DataFrame(rows, columns=["group_id", "feature", "value", "group_norm"])
    trows = [(users[i], f"t{j}", topics[i, j], topics[i, j]) for i in range(n) for j in range(6)]
    tdf = pd.DataFrame(trows, columns=["group_id", "feature", "value", "group_norm"])
    age = 30 + 6 * z + rng.normal(scale=1.0, size=n) if signal else 30 + 6 * rng.normal(size=n)
    t0 = dt.datetime(2020, 1, 1)
    msgs = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(n)], "post_key": [f"k{i}" for i in range(n)],
        "user_id": users, "created_at": [t0 + dt.timedelta(days=i) for i in range(n)],
        "text": ["hello"] * n, "lang": ["en"] * n, "source": ["synthetic"] * n, "run_id": [1] * n,
    })
    with ws.connect() as con:
        write_features(con, "1gram", "user", ngrams, kind="ngram")
        write_features(con, "topics", "user", tdf, kind="lexicon")
        write_group_words(con, "user", pd.DataFrame({"group_id": users, "messages": 1, "words": words}))
        con.register("_m", msgs)
        con.execute("INSERT INTO messages BY NAME SELECT * FROM _m")
        con.unregister("_m")
    out = pd.DataFrame({
        "user_id": raw, "age": np.round(age, 3),
        "gender": np.where(z + rng.normal(scale=0.3, size=n) > 0, "female", "male"),
        "band": np.array(["a", "b", "c"])[np.arange(n) % 3],
    })
    out.loc[N_WORDS_SHORT, "age"] = np.nan  # one user without the outcome
    csv = root / "outcomes.csv"
    out.to_csv(csv, index=False)
    load_outcomes(ws, csv)
    return ws, raw
