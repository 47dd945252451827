"""Sentence-embedding runtimes on the blog corpus: speed, fidelity to fp32, user-level validity.

Run: ``nice -n 10 python3 bench/embeddings.py [--users 300] [--posts-per-user 5]``
(writes ``bench/out/embeddings.json``). One run prints, for every runtime of MiniLM
(torch fp32 = the reference, torch bf16 autocast where the CPU has native bf16, ONNX fp32,
ONNX int8 per-channel) and for the static tables (today's v2 and the v1 it replaces):

* posts/s on short posts (<= 64 wordpieces) and on long posts (>= 254 wordpieces, every
  window), each runtime timed twice in alternation and the faster pass kept (the 2 cores are
  shared, so a single pass is mostly noise), and the ratio to torch fp32;
* cosine of each post's vector to torch fp32's (mean, min) on those posts;
* user-level validity on a random subsample of ``--users`` bloggers (seed 0) with DLATK's own
  folds: age r (RidgeCV) and gender AUC (logistic regression), each full-model runtime on
  the first window of ``--posts-per-user`` posts per user (spread over the user's posts), the
  static tables on the same posts and on all of the user's posts (only they can afford it);
* the static path's build time (the vocabulary embedded once by ONNX fp32, post-processed).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import blog_messages, blog_users, dlatk_folds, write_results  # noqa: E402

SEED = 0
ALPHAS = [0.1, 1, 10, 100, 1e3, 1e4, 1e5]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def best_of_two(embedders: dict, texts: list[str]) -> tuple[dict, dict]:
    """Seconds (the faster of two alternating passes) and vectors of each embedder."""
    secs = {k: np.inf for k in embedders}
    vecs = {}
    for _ in range(2):
        for k, e in embedders.items():
            t = time.perf_counter()
            vecs[k] = e.embed(texts).vectors
            secs[k] = min(secs[k], time.perf_counter() - t)
    return secs, vecs


def speed_table(embedders: dict, texts: list[str], label: str) -> dict:
    secs, vecs = best_of_two(embedders, texts)
    ref = vecs["torch-fp32"]
    rows = {}
    for k in embedders:
        c = cosine(vecs[k], ref)
        rows[k] = {"posts_per_s": round(len(texts) / secs[k], 2),
                   "x_torch_fp32": round(secs["torch-fp32"] / secs[k], 2),
                   "cosine_mean": round(float(c.mean()), 5), "cosine_min": round(float(c.min()), 5)}
        print(f"  {label:<6} {k:<12} {rows[k]['posts_per_s']:>9} posts/s  "
              f"{rows[k]['x_torch_fp32']:>6}x fp32  cosine mean {rows[k]['cosine_mean']:.4f} "
              f"min {rows[k]['cosine_min']:.4f}", flush=True)
    return rows


def user_means(vec: np.ndarray, rows: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """(n, dim) weighted means of message vectors by user row."""
    W = sp.csr_matrix((weights, (rows, np.arange(len(rows)))), shape=(n, len(rows)))
    W = sp.diags(1.0 / np.maximum(np.asarray(W.sum(axis=1)).ravel(), 1e-12)) @ W
    return np.asarray(W @ vec)


def validity(X: np.ndarray, age: np.ndarray, gender: np.ndarray, fr: np.ndarray,
             fc: np.ndarray) -> dict:
    """Out-of-fold age r (RidgeCV) and gender AUC (logistic, C by inner CV), as DLATK does."""
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pa, pg = np.empty(len(age)), np.empty(len(age))
    for f in np.unique(fr):
        te = fr == f
        m = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(X[~te], age[~te])
        pa[te] = m.predict(X[te])
    for f in np.unique(fc):
        te = fc == f
        m = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=[1e-3, 1e-2, 0.1, 1], max_iter=2000))
        pg[te] = m.fit(X[~te], gender[~te]).predict_proba(X[te])[:, 1]
    return {"age_r": round(float(np.corrcoef(pa, age)[0, 1]), 4),
            "gender_auc": round(float(roc_auc_score(gender, pg)), 4)}


class LegacyStatic:
    """The v1 static table as it was embedded before (raw rows, log1p(index) weights)."""

    name, runtime, dim = "minilm-static-v1", "static-v1", 384

    def __init__(self, raw: np.ndarray, tokenizer):
        self.raw, self.tokenizer = raw, tokenizer
        self.weights = np.log1p(np.arange(len(raw), dtype=np.float64))

    def embed(self, texts, bar=None):
        from psyprofile.features.embeddings import Embedded

        ids = self.tokenizer.ids(texts)
        lens = np.array([len(t) for t in ids])
        flat = np.fromiter((i for t in ids for i in t), dtype=np.int64, count=int(lens.sum()))
        C = sp.csr_matrix((self.weights[flat], flat, np.concatenate([[0], np.cumsum(lens)])),
                          shape=(len(texts), len(self.raw)))
        v = np.asarray(C @ self.raw, dtype=np.float32)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return Embedded(np.divide(v, n, out=np.zeros_like(v), where=n > 0), np.ones(len(texts)), lens)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--posts-per-user", type=int, default=5)
    ap.add_argument("--short-posts", type=int, default=200)
    ap.add_argument("--long-posts", type=int, default=24)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # lbfgs convergence notes on the inner CV folds

    from psyprofile.features import static_embed as S
    from psyprofile.features.embeddings import MiniLM, native_bf16, wordpieces
    from psyprofile.features.minilm_onnx import cpu_flags, has_vnni
    from psyprofile.text.tokenize import tokenize

    t_all = time.perf_counter()
    out: dict = {"args": vars(args), "cpu": {"native_bf16": native_bf16(), "vnni": has_vnni(),
                                             "avx512f": "avx512f" in cpu_flags()}}
    msgs = blog_messages()
    msgs = msgs[msgs.message.str.strip().ne("")].reset_index(drop=True)
    tok = wordpieces()
    n_pieces = np.array([len(t) for t in tok.ids(msgs.message.tolist())])

    runtimes = ["torch-fp32", "onnx-fp32", "onnx-int8"]
    if native_bf16():
        runtimes.insert(1, "torch-bf16")
    else:
        out["torch-bf16"] = "skipped: this CPU has no native bf16 (emulated, ~5x slower than fp32)"
        print(f"torch-bf16: {out['torch-bf16']}")
    full = {r: MiniLM(r) for r in runtimes}
    out["runtime_ids"] = {r: e.runtime_id for r, e in full.items()}

    print("static path: building the table (vocabulary through ONNX fp32, post-processing)")
    t = time.perf_counter()
    raw = S.piece_vectors(MiniLM("onnx-fp32", batch_size=1024), progress=False)
    table = S.post_process(raw)
    out["static_build_seconds"] = round(time.perf_counter() - t, 1)
    print(f"  built in {out['static_build_seconds']} s")
    static = S.StaticMiniLM.__new__(S.StaticMiniLM)
    static.tokenizer, static.table, static.runtime_id = tok, table, "bench"
    statics = {"static-v2": static, "static-v1": LegacyStatic(raw, tok)}

    rng = np.random.default_rng(SEED)
    short_idx = rng.choice(np.flatnonzero((n_pieces > 0) & (n_pieces <= 64)), args.short_posts, replace=False)
    long_idx = rng.choice(np.flatnonzero(n_pieces >= 254), args.long_posts, replace=False)
    print("speed and fidelity (best of 2 alternating passes)")
    out["speed"] = {}
    for label, idx in (("short", short_idx), ("long", long_idx)):
        texts = msgs.message.iloc[idx].tolist()
        out["speed"][label] = speed_table({**full, **statics}, texts, label)
        out["speed"][label]["_posts"] = len(texts)
        out["speed"][label]["_mean_wordpieces"] = round(float(n_pieces[idx].mean()), 1)

    # Users: a random subsample of those with DLATK folds for both tasks.
    users = blog_users()[["user_id", "age", "gender"]].dropna()
    users = (users.merge(dlatk_folds("regression"), on="user_id")
             .merge(dlatk_folds("classification"), on="user_id", suffixes=("_r", "_c")))
    users = users.sample(min(args.users, len(users)), random_state=SEED).reset_index(drop=True)
    row_of = {u: i for i, u in enumerate(users.user_id)}
    mine = msgs[msgs.user_id.isin(row_of)].copy()
    mine["row"] = mine.user_id.map(row_of)
    k = args.posts_per_user
    picks = [idx[np.unique(np.linspace(0, len(idx) - 1, min(k, len(idx))).round().astype(int))]
             for idx in mine.groupby("row").indices.values()]
    sample = mine.iloc[np.concatenate(picks)]
    age = users.age.to_numpy(float)
    gender = users.gender.to_numpy(int)
    fr, fc = users.fold_r.to_numpy(), users.fold_c.to_numpy()
    n = len(users)
    out["validity"] = {"_users": n, "_sampled_posts": len(sample), "_all_posts": len(mine)}
    print(f"user-level validity: {n} users; {len(sample)} sampled posts (first window), "
          f"{len(mine)} posts in all")
    s_texts = sample.message.tolist()
    s_w = np.array([max(len(tokenize(x)), 1) for x in s_texts], float)
    for name, e in full.items():
        e.max_windows = 1
        t = time.perf_counter()
        v = e.embed(s_texts).vectors
        sec = time.perf_counter() - t
        e.max_windows = None
        res = validity(user_means(v, sample.row.to_numpy(), s_w, n), age, gender, fr, fc)
        out["validity"][f"{name} sampled posts"] = {**res, "seconds": round(sec, 1)}
        print(f"  {name:<12} sampled posts  age r {res['age_r']:.3f}  gender AUC "
              f"{res['gender_auc']:.3f}  ({sec:.0f} s)", flush=True)
    a_texts = mine.message.tolist()
    a_w = np.array([max(len(tokenize(x)), 1) for x in a_texts], float)
    for name, e in statics.items():
        for label, texts, rows, w in (("sampled posts", s_texts, sample.row.to_numpy(), s_w),
                                      ("all posts", a_texts, mine.row.to_numpy(), a_w)):
            t = time.perf_counter()
            v = e.embed(texts).vectors
            sec = time.perf_counter() - t
            res = validity(user_means(v, rows, w, n), age, gender, fr, fc)
            out["validity"][f"{name} {label}"] = {**res, "seconds": round(sec, 1)}
            print(f"  {name:<12} {label:<14} age r {res['age_r']:.3f}  gender AUC "
                  f"{res['gender_auc']:.3f}  ({sec:.1f} s)", flush=True)
    out["bench_seconds"] = round(time.perf_counter() - t_all, 1)
    print(f"wrote {write_results('embeddings', out)} ({out['bench_seconds']} s)")


if __name__ == "__main__":
    main()
