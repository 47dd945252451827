"""Sentence embeddings on the blog corpus: runtimes, windowing cost, static vs full model.

Run: ``nice -n 5 python3 bench/embeddings.py`` (writes ``bench/out/embeddings.json``).

The full model costs about 5 GFLOP per 256-wordpiece window, so on 2 shared cores it
embeds a few long blog windows per second; the full-model parts therefore use samples
(sizes printed and stored): runtimes on ``RUNTIME_POSTS`` random posts, and the downstream
comparison on one random post per user (first window). The static path runs on every post.
No DLATK ratio: DLATK's ``--add_embedding`` needs torch and transformers in its venv (not
installed there) and fetches its default model from the Hugging Face hub, which this
machine cannot reach.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from psyprofile.features.embeddings import MiniLM
from psyprofile.features.static_embed import StaticMiniLM, cache_path, static_table
from psyprofile.text.tokenize import tokenize

DATA = Path("/work/shared/data/blogs")
OUT = Path(__file__).parent / "out" / "embeddings.json"
RUNTIME_POSTS = 40
WINDOW_POSTS = 80
ALPHAS = [0.1, 1, 10, 100, 1e3, 1e4, 1e5]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def runtimes(m: MiniLM, texts: list[str]) -> list[dict]:
    """fp32 (torch's default threads), fp32 on 1 thread, bf16 autocast: speed and fidelity."""
    rows, ref = [], None
    default_threads = torch.get_num_threads()
    for name, runtime, threads in [("fp32", "fp32", default_threads), ("fp32-1thread", "fp32", 1),
                                   ("bf16-autocast", "bf16", default_threads)]:
        torch.set_num_threads(threads)
        m.runtime = runtime
        e, sec = timed(m.embed, texts)
        ref = e.vectors if ref is None else ref
        c = cosine(e.vectors, ref)
        rows.append({"runtime": name, "threads": threads, "seconds": round(sec, 2),
                     "messages_per_s": round(len(texts) / sec, 2),
                     "windows_per_s": round(int(e.n_windows.sum()) / sec, 2),
                     "cosine_min": round(float(c.min()), 6), "cosine_mean": round(float(c.mean()), 6)})
        print(rows[-1], flush=True)
    torch.set_num_threads(default_threads)
    m.runtime = "fp32"
    return rows


def windowing(m: MiniLM, texts: list[str]) -> dict:
    """All windows vs the first window only (what truncation would embed)."""
    full, t_full = timed(m.embed, texts)
    m.max_windows = 1
    trunc, t_trunc = timed(m.embed, texts)
    m.max_windows = None
    long = full.n_windows > 1
    c = cosine(full.vectors[long], trunc.vectors[long])
    out = {"posts": len(texts), "windows": int(full.n_windows.sum()), "posts_with_2plus_windows": int(long.sum()),
           "seconds_all_windows": round(t_full, 2), "seconds_first_window": round(t_trunc, 2),
           "cost_ratio": round(t_full / t_trunc, 2),
           "cosine_truncated_vs_windowed_long_posts_mean": round(float(c.mean()), 4),
           "cosine_truncated_vs_windowed_long_posts_min": round(float(c.min()), 4)}
    print(out, flush=True)
    return out


def ridge_r(X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Pearson r of out-of-fold RidgeCV predictions (standardised per fold), as DLATK does."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty_like(y)
    for f in np.unique(folds):
        test = folds == f
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(X[~test], y[~test])
        pred[test] = model.predict(X[test])
    return round(float(np.corrcoef(pred, y)[0, 1]), 4)


def user_means(vec: np.ndarray, users: np.ndarray, weights: np.ndarray, order: list[str]) -> np.ndarray:
    idx = {u: i for i, u in enumerate(order)}
    rows = np.array([idx.get(u, -1) for u in users])
    ok = rows >= 0
    W = sp.csr_matrix((weights[ok], (rows[ok], np.flatnonzero(ok))), shape=(len(order), len(users)))
    W = sp.diags(1.0 / np.asarray(W.sum(axis=1)).ravel()) @ W
    return np.asarray(W @ vec)


def main() -> None:
    msgs = pd.read_csv(DATA / "messages.csv.gz", usecols=["message_id", "user_id", "message"])
    msgs = msgs[msgs.message.astype(str).str.strip().ne("") & msgs.message.notna()].reset_index(drop=True)
    msgs["message"] = msgs.message.astype(str)
    folds = pd.read_csv(DATA / "dlatk_folds_regression.csv")
    users = pd.read_csv(DATA / "users.csv")[["user_id", "age"]].merge(folds, on="user_id")
    result: dict = {"corpus_posts": len(msgs), "users": len(users), "torch_threads": torch.get_num_threads()}

    m = MiniLM()
    sample = msgs.sample(WINDOW_POSTS, random_state=0).message.tolist()
    result["runtimes"] = runtimes(m, sample[:RUNTIME_POSTS])
    result["windowing"] = windowing(m, sample)

    # Static path: distillation (once per machine), then every post of the corpus.
    if not cache_path().exists():
        _, result["static_distill_seconds"] = timed(static_table)
    static = StaticMiniLM(progress=False)
    texts = msgs.message.tolist()
    se, sec = timed(static.embed, texts)
    result["static_all_posts"] = {"posts": len(texts), "seconds": round(sec, 2),
                                  "messages_per_s": round(len(texts) / sec, 1)}
    print(result["static_all_posts"], flush=True)

    # Downstream: one random post per user (first window) for full vs static on the same text.
    one = msgs[msgs.user_id.isin(users.user_id)].groupby("user_id").sample(1, random_state=0)
    m.max_windows = 1
    fe, sec = timed(m.embed, one.message.tolist())
    m.max_windows = None
    result["full_one_post_per_user"] = {"posts": len(one), "seconds": round(sec, 2),
                                        "messages_per_s": round(len(one) / sec, 2)}
    print(result["full_one_post_per_user"], flush=True)
    s1 = static.embed(one.message.tolist()).vectors
    c = cosine(fe.vectors, s1)
    result["static_vs_full_cosine_per_message"] = {
        "mean": round(float(c.mean()), 4), "median": round(float(np.median(c)), 4),
        "min": round(float(c.min()), 4)}

    order = users.user_id.tolist()
    y = users.age.to_numpy(float)
    f = users.fold.to_numpy()
    ou = one.user_id.to_numpy()
    ones = np.ones(len(one))
    words = np.array([max(len(tokenize(t)), 1) for t in texts], dtype=float)
    au = msgs.user_id.to_numpy()
    result["age_r_10fold"] = {
        "full_one_post": ridge_r(user_means(fe.vectors, ou, ones, order), y, f),
        "static_one_post": ridge_r(user_means(s1, ou, ones, order), y, f),
        "static_all_posts_words_weighted": ridge_r(user_means(se.vectors, au, words, order), y, f),
        "static_all_posts_unweighted": ridge_r(user_means(se.vectors, au, np.ones(len(au)), order), y, f),
    }
    print(result["age_r_10fold"], flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
