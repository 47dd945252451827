"""Sentence-embedding runtimes on the blog corpus: speed, fidelity to fp32, user-level validity.

Run: ``nice -n 10 python3 bench/embeddings.py [--users 300] [--posts-per-user 5]``
(writes ``bench/out/embeddings.json``; ``--speed-only``: the speed part alone, to
``embeddings_speed.json``). One run prints, for every runtime of MiniLM
(torch fp32 = the reference, torch bf16 autocast where the CPU has native bf16, ONNX fp32,
ONNX int8 per-channel) and for the static tables (today's v3 and the v2 and v1 before it):

* posts/s on short posts (<= 64 wordpieces) and on long posts (>= 254 wordpieces, every
  window), each runtime timed three times in alternation and the fastest pass kept (the 2
  cores are shared, so a single pass is mostly noise), the ratio to torch fp32, and the load
  average before and after;
* cosine of each post's vector to torch fp32's (mean, min) on those posts;
* user-level validity with DLATK's own folds: age r (RidgeCV) and gender AUC (logistic
  regression), each with its spread over the 10 folds (sd) and, against a base, the 95%
  paired bootstrap interval of the difference (the same users resampled for both). On a
  random subsample of ``--users`` bloggers (seed 0): every full-model runtime on the first
  window of ``--posts-per-user`` posts per user (spread over the user's posts), against
  torch fp32; the static tables on the same posts and on all the users' posts. Then the
  static tables (v3 and v2 against each earlier one) on every user with folds and all their
  posts;
* the static path's build time (the vocabulary and the added words embedded once by ONNX
  fp32, post-processed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import blog_messages, blog_users, dlatk_folds, write_results  # noqa: E402

SEED = 0
ALPHAS = [0.1, 1, 10, 100, 1e3, 1e4, 1e5]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


PASSES = 3


def best_of_passes(embedders: dict, texts: list[str]) -> tuple[dict, dict]:
    """Seconds (the fastest of :data:`PASSES` alternating passes) and vectors of each embedder."""
    secs = {k: np.inf for k in embedders}
    vecs = {}
    for _ in range(PASSES):
        for k, e in embedders.items():
            t = time.perf_counter()
            vecs[k] = e.embed(texts).vectors
            secs[k] = min(secs[k], time.perf_counter() - t)
    return secs, vecs


def speed_table(embedders: dict, texts: list[str], label: str) -> dict:
    secs, vecs = best_of_passes(embedders, texts)
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


def oof(X: np.ndarray, age: np.ndarray, gender: np.ndarray, fr: np.ndarray,
        fc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions on DLATK's folds: age (RidgeCV) and P(gender = 1) (logistic,
    C by inner CV), as DLATK does."""
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
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
    return pa, pg


def scores(pa: np.ndarray, pg: np.ndarray, age: np.ndarray, gender: np.ndarray) -> np.ndarray:
    """(age r, gender AUC) of out-of-fold predictions."""
    from sklearn.metrics import roc_auc_score

    return np.array([np.corrcoef(pa, age)[0, 1], roc_auc_score(gender, pg)])


def fold_sd(pa: np.ndarray, pg: np.ndarray, age: np.ndarray, gender: np.ndarray,
            fr: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """Standard deviation over DLATK's 10 folds of the per-fold (age r, gender AUC)."""
    from sklearn.metrics import roc_auc_score

    r = [np.corrcoef(pa[fr == f], age[fr == f])[0, 1] for f in np.unique(fr)]
    auc = [roc_auc_score(gender[fc == f], pg[fc == f]) for f in np.unique(fc)]
    return np.array([np.std(r, ddof=1), np.std(auc, ddof=1)])


def paired_ci(base: tuple, other: tuple, age: np.ndarray, gender: np.ndarray,
              reps: int = 1000) -> np.ndarray:
    """95% bootstrap interval (2, 2: [age r, AUC] x [low, high]) of ``other`` minus ``base``
    (each a pair of out-of-fold predictions), resampling the same users for both."""
    rng = np.random.default_rng(SEED)
    diffs = np.empty((reps, 2))
    for i in range(reps):
        b = rng.integers(0, len(age), len(age))
        diffs[i] = (scores(other[0][b], other[1][b], age[b], gender[b])
                    - scores(base[0][b], base[1][b], age[b], gender[b]))
    return np.percentile(diffs, [2.5, 97.5], axis=0).T


def fold_users():
    """Bloggers with age, gender and DLATK folds for both tasks (columns ``fold_r``, ``fold_c``)."""
    users = blog_users()[["user_id", "age", "gender"]].dropna()
    return (users.merge(dlatk_folds("regression"), on="user_id")
            .merge(dlatk_folds("classification"), on="user_id", suffixes=("_r", "_c")))


class Validity:
    """Out-of-fold validity of several feature matrices on the same users and folds."""

    def __init__(self, users, out: dict):
        self.age = users.age.to_numpy(float)
        self.gender = users.gender.to_numpy(int)
        self.fr, self.fc = users.fold_r.to_numpy(), users.fold_c.to_numpy()
        self.out, self.preds = out, {}

    def add(self, name: str, X: np.ndarray, seconds: float, bases: tuple[str, ...] = ()) -> None:
        """Score ``X`` (one row per user), and against each of ``bases`` the paired CI of the
        gain."""
        pred = self.preds[name] = oof(X, self.age, self.gender, self.fr, self.fc)
        sc, sd = scores(*pred, self.age, self.gender), fold_sd(*pred, self.age, self.gender, self.fr, self.fc)
        row = {"age_r": round(float(sc[0]), 4), "gender_auc": round(float(sc[1]), 4),
               "fold_sd_age_r": round(float(sd[0]), 4), "fold_sd_gender_auc": round(float(sd[1]), 4),
               "seconds": round(seconds, 1)}
        line = (f"  {name:<30} age r {sc[0]:.3f} (fold sd {sd[0]:.3f})  gender AUC {sc[1]:.3f} "
                f"(fold sd {sd[1]:.3f})  ({seconds:.1f} s)")
        for base in bases:
            ci = paired_ci(self.preds[base], pred, self.age, self.gender)
            row[f"minus {base}"] = {"age_r_95ci": ci[0].round(4).tolist(),
                                    "gender_auc_95ci": ci[1].round(4).tolist()}
            line += (f"\n  {'':<30} minus {base}: age r [{ci[0][0]:+.3f}, {ci[0][1]:+.3f}]  "
                     f"AUC [{ci[1][0]:+.3f}, {ci[1][1]:+.3f}] (95% paired bootstrap)")
        self.out[name] = row
        print(line, flush=True)


def v1_weights(n: int) -> np.ndarray:
    """(n,) the v1 table's row weights, ``log(1 + index)`` by vocabulary rank."""
    return np.log1p(np.arange(n, dtype=np.float64))


def zipf_sif_weights(n: int, a: float | None = None) -> np.ndarray:
    """(n,) the v2 table's row weights ``a / (a + p)``, ``p`` a Zipf law over the vocabulary
    rank (``static_embed.SIF_A`` by default)."""
    from psyprofile.features.static_embed import SIF_A, zipf_probabilities

    a = SIF_A if a is None else a
    return a / (a + zipf_probabilities(n))


def v2_table(raw: np.ndarray) -> np.ndarray:
    """The v2 table (shipped before v3): the raw piece rows centred, Zipf SIF weights."""
    centred = raw.astype(np.float64) - raw.mean(axis=0)
    return (centred * zipf_sif_weights(len(raw))[:, None]).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--posts-per-user", type=int, default=5)
    ap.add_argument("--short-posts", type=int, default=200)
    ap.add_argument("--long-posts", type=int, default=24)
    ap.add_argument("--speed-only", action="store_true",
                    help="only speed and fidelity (a second sample of the ratios, ~4 min)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # lbfgs convergence notes on the inner CV folds

    from psyprofile.features import static_embed as S
    from psyprofile.features.embeddings import (
        MiniLM,
        Wordpieces,
        native_bf16,
        weighted_means,
        wordpieces,
    )
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

    print("static path: building the table (vocabulary and words through ONNX fp32, "
          "post-processing)")
    t = time.perf_counter()
    fp32 = MiniLM("onnx-fp32", batch_size=1024)
    raw = S.piece_vectors(fp32, progress=False)  # v1 and v2 are made from these rows too
    table, words = S.table_from(fp32, raw, progress=False)
    out["static_build_seconds"] = round(time.perf_counter() - t, 1)
    print(f"  built in {out['static_build_seconds']} s ({len(words)} words added)")
    def static(table: np.ndarray, words: tuple[str, ...] = ()) -> S.StaticMiniLM:
        return S.StaticMiniLM(table=S.StaticTable(table, words, Wordpieces(words), "bench"))

    statics = {"static-v3": static(table, tuple(words)), "static-v2": static(v2_table(raw)),
               "static-v1": static(raw * v1_weights(len(raw))[:, None])}

    rng = np.random.default_rng(SEED)
    short_idx = rng.choice(np.flatnonzero((n_pieces > 0) & (n_pieces <= 64)), args.short_posts, replace=False)
    long_idx = rng.choice(np.flatnonzero(n_pieces >= 254), args.long_posts, replace=False)
    print(f"speed and fidelity (best of {PASSES} alternating passes; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    out["speed"] = {"_load_average_before": round(os.getloadavg()[0], 1)}
    for label, idx in (("short", short_idx), ("long", long_idx)):
        texts = msgs.message.iloc[idx].tolist()
        out["speed"][label] = speed_table({**full, **statics}, texts, label)
        out["speed"][label]["_posts"] = len(texts)
        out["speed"][label]["_mean_wordpieces"] = round(float(n_pieces[idx].mean()), 1)
    out["speed"]["_load_average_after"] = round(os.getloadavg()[0], 1)

    if args.speed_only:
        out["bench_seconds"] = round(time.perf_counter() - t_all, 1)
        print(f"wrote {write_results('embeddings_speed', out)} ({out['bench_seconds']} s)")
        return

    # Users: those with DLATK folds for both tasks; the full models run on a subsample.
    users = fold_users()
    sub = users.sample(min(args.users, len(users)), random_state=SEED).reset_index(drop=True)
    row_of = {u: i for i, u in enumerate(sub.user_id)}
    mine = msgs[msgs.user_id.isin(row_of)].copy()
    mine["row"] = mine.user_id.map(row_of)
    k = args.posts_per_user
    picks = [idx[np.unique(np.linspace(0, len(idx) - 1, min(k, len(idx))).round().astype(int))]
             for idx in mine.groupby("row").indices.values()]
    sample = mine.iloc[np.concatenate(picks)]
    n = len(sub)
    out["validity"] = {"_users": n, "_sampled_posts": len(sample), "_all_posts": len(mine)}
    print(f"user-level validity, {n} users (seed {SEED}), DLATK's folds: every runtime on "
          f"{len(sample)} sampled posts (first window); the static tables also on all "
          f"{len(mine)} of their posts")
    V = Validity(sub, out["validity"])
    s_texts = sample.message.tolist()
    s_w = np.array([max(len(tokenize(x)), 1) for x in s_texts], float)
    ref = "torch-fp32 sampled posts"
    for name, e in full.items():
        e.max_windows = 1
        t = time.perf_counter()
        v = e.embed(s_texts).vectors
        sec = time.perf_counter() - t
        e.max_windows = None
        V.add(f"{name} sampled posts", weighted_means(sample.row.to_numpy(), n, v, s_w), sec,
              bases=() if name == "torch-fp32" else (ref,))

    def static_validity(V: Validity, posts, rows: np.ndarray, n: int, label: str,
                        base: str | None) -> None:
        texts = posts.message.tolist()
        w = np.array([max(len(tokenize(x)), 1) for x in texts], float)
        for name in ("static-v1", "static-v2", "static-v3"):
            t = time.perf_counter()
            v = statics[name].embed(texts).vectors
            sec = time.perf_counter() - t
            earlier = [f"static-v{k} {label}" for k in range(1, int(name[-1]))]
            V.add(f"{name} {label}", weighted_means(rows, n, v, w), sec,
                  bases=(base,) if base else tuple(earlier))

    static_validity(V, sample, sample.row.to_numpy(), n, "sampled posts", ref)
    static_validity(V, mine, mine.row.to_numpy(), n, "all posts", None)

    # The static tables are cheap enough for every user with folds, all their posts.
    every = users.reset_index(drop=True)
    row_all = {u: i for i, u in enumerate(every.user_id)}
    posts = msgs[msgs.user_id.isin(row_all)]
    out["validity_all_users"] = {"_users": len(every), "_posts": len(posts)}
    print(f"static tables, all {len(every)} users with folds, all {len(posts)} of their posts")
    static_validity(Validity(every, out["validity_all_users"]), posts,
                    posts.user_id.map(row_all).to_numpy(), len(every), "all posts", None)
    out["bench_seconds"] = round(time.perf_counter() - t_all, 1)
    print(f"wrote {write_results('embeddings', out)} ({out['bench_seconds']} s)")


if __name__ == "__main__":
    main()
