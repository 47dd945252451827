"""How the static table's recipe was chosen: post-processing variants on a tuning split,
the chosen one then reported once on users it was not tuned on.

Run: ``nice -n 10 python3 bench/static_variants.py [--raw PATH]`` (writes
``bench/out/static_variants.json``; ``--raw``: a cache of the raw piece vectors, which
take ~40 s to distil through ONNX fp32; every variant after that is post-processing only).

Users are those with DLATK folds for both tasks (978 bloggers), all their posts, each user
the word-weighted mean of its post vectors (as ``bench/embeddings.py``). The **tuning split**
is the 300-user subsample that ``bench/embeddings.py`` draws (seed 0); every variant is
scored there against v1. One variant is then chosen by a rule fixed in advance (the largest
sum of the age r and AUC gains on tuning; ``--chosen NAME`` overrides it) and scored, with
v1 and v2, on the **held-out split** (the other 678 users) and on all 978, each with the 95%
paired bootstrap interval of its difference to v1. The ``wordfreq`` variants need
``pip install wordfreq`` (not a psyprofile dependency: no variant of it was shipped); without
it they are skipped, and the run says so.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import blog_messages, write_results  # noqa: E402
from bench.embeddings import SEED, LegacyStatic, fold_users, oof, paired_ci, scores  # noqa: E402

TUNING_USERS = 300  # bench/embeddings.py's default --users


def user_matrix(C: sp.csr_matrix, rows: np.ndarray, w: np.ndarray, n: int, table: np.ndarray) -> np.ndarray:
    """(n users, dim): word-weighted means of the posts' static vectors under ``table``
    (``C``: the posts' piece counts, counted once for every variant)."""
    from psyprofile.features.embeddings import weighted_means
    from psyprofile.features.static_embed import message_vectors

    return weighted_means(rows, n, message_vectors(C, table), w)


def piece_probabilities(tok, wordfreq) -> np.ndarray:
    """(vocab size,) probability of each wordpiece in English text from ``wordfreq``'s large
    English list (many corpora, not the blog corpus): each word's frequency is added to every
    piece the tokenizer cuts it into. Pieces no listed word produces (most punctuation) get 0."""
    freq = wordfreq.get_frequency_dict("en", wordlist="large")
    from psyprofile.features.static_embed import piece_counts

    counts = piece_counts(tok.ids(list(freq)), tok.vocab_size)  # (words, pieces)
    p = counts.T @ np.fromiter(freq.values(), dtype=np.float64, count=len(freq))
    return p / p.sum()


def remove_top_components(table: np.ndarray, k: int) -> np.ndarray:
    """``table`` (n, d) minus its projection on its own top ``k`` principal directions
    ("all-but-the-top", Mu & Viswanath 2018)."""
    top = np.linalg.svd(table - table.mean(axis=0), full_matrices=False)[2][:k]
    return table - (table @ top.T) @ top


def pca(table: np.ndarray, d: int) -> np.ndarray:
    """``table`` (n, dim) centred and projected on its top ``d`` principal directions."""
    c = table - table.mean(axis=0)
    return c @ np.linalg.svd(c, full_matrices=False)[2][:d].T


def variants(raw: np.ndarray, tok) -> dict:
    """Name -> table-building function (each the raw table post-processed one way)."""
    from psyprofile.features import static_embed as S

    centred = raw.astype(np.float64) - raw.mean(axis=0)
    legacy = LegacyStatic(raw, tok)
    v1 = legacy.weights[:, None]
    zipf = S.sif_weights(len(raw))[:, None]
    out = {
        "v1": lambda: legacy.table,
        "v2 (centred, Zipf SIF)": lambda: S.post_process(raw),
        "centred, Zipf SIF a=1e-3": lambda: centred * S.sif_weights(len(raw), 1e-3)[:, None],
        "centred, Zipf SIF a=3e-4": lambda: centred * S.sif_weights(len(raw), 3e-4)[:, None],
        "centred, no weights": lambda: centred,
        "uncentred, Zipf SIF": lambda: raw * zipf,
        "centred, v1 weights": lambda: centred * v1,
        "top 5 PCs removed, v1 weights": lambda: remove_top_components(centred, 5) * v1,
    }
    for k in (1, 2, 3, 5, 10):
        out[f"top {k} PCs removed, Zipf SIF"] = lambda k=k: remove_top_components(centred, k) * zipf
    try:
        import wordfreq
    except ImportError:
        print("wordfreq is not installed: its variants are skipped (pip install wordfreq)")
        return out
    p = piece_probabilities(tok, wordfreq)
    wf = np.where(p > 0, p, S.zipf_probabilities(len(raw)))  # missing: Zipf by vocab order

    def sif(a: float = S.SIF_A) -> np.ndarray:
        return (a / (a + wf))[:, None]

    out.update({
        "centred, wordfreq SIF": lambda: centred * sif(),
        "centred, wordfreq SIF (missing: rarest)": lambda: centred * (S.SIF_A / (S.SIF_A + np.where(p > 0, p, p[p > 0].min())))[:, None],
        "centred, wordfreq SIF a=1e-3": lambda: centred * sif(1e-3),
        "centred, wordfreq SIF a=1e-5": lambda: centred * sif(1e-5),
        "centred, wordfreq IDF log(1/p)": lambda: centred * -np.log(wf)[:, None],
    })
    for k in (1, 2, 3, 5, 10):
        out[f"top {k} PCs removed, wordfreq SIF"] = lambda k=k: remove_top_components(centred, k) * sif()
    for d in (256, 128):
        out[f"PCA {d}, wordfreq SIF"] = lambda d=d: pca(centred, d) * sif()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, help="cache file of the raw piece vectors (.npy)")
    ap.add_argument("--chosen", default=None,
                    help="the variant to report on the held-out users (default: the rule below)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from psyprofile.features import static_embed as S
    from psyprofile.features.embeddings import MiniLM, wordpieces
    from psyprofile.text.tokenize import tokenize

    tok = wordpieces()
    if args.raw and args.raw.exists():
        raw = np.load(args.raw)
    else:
        raw = S.piece_vectors(MiniLM("onnx-fp32", batch_size=1024), progress=False)
        if args.raw:
            np.save(args.raw, raw)
    users = fold_users().reset_index(drop=True)
    tuning = users.user_id.isin(users.sample(TUNING_USERS, random_state=SEED).user_id).to_numpy()
    msgs = blog_messages()
    row_of = {u: i for i, u in enumerate(users.user_id)}
    posts = msgs[msgs.user_id.isin(row_of) & msgs.message.str.strip().ne("")]
    texts = posts.message.tolist()
    C = S.piece_counts(tok.ids(texts), tok.vocab_size)
    w = np.array([max(len(tokenize(x)), 1) for x in texts], float)
    rows = posts.user_id.map(row_of).to_numpy()
    n = len(users)
    age, gender = users.age.to_numpy(float), users.gender.to_numpy(int)
    fr, fc = users.fold_r.to_numpy(), users.fold_c.to_numpy()
    split = {"tuning": tuning, "held-out": ~tuning, "all": np.ones(n, bool)}
    out: dict = {"_users": {k: int(m.sum()) for k, m in split.items()}, "_posts": len(texts)}
    print(f"{n} users ({int(tuning.sum())} tuning, seed 0; {int((~tuning).sum())} held out), "
          f"{len(texts)} posts")

    def score(X: np.ndarray, m: np.ndarray) -> tuple:
        return oof(X[m], age[m], gender[m], fr[m], fc[m])

    def report(name: str, pred: tuple, where: str) -> np.ndarray:
        """Print and record ``name``'s scores on split ``where``; return its gains over v1."""
        m = split[where]
        sc = scores(*pred, age[m], gender[m])
        row = out.setdefault(where, {})[name] = {"age_r": round(float(sc[0]), 4),
                                                 "gender_auc": round(float(sc[1]), 4)}
        line = f"  {name:<42} age r {sc[0]:.3f}  AUC {sc[1]:.3f}"
        if name == "v1":
            print(line, flush=True)
            return np.zeros(2)
        ci = paired_ci(base[where], pred, age[m], gender[m])
        row["minus v1"] = {"age_r_95ci": ci[0].round(4).tolist(), "gender_auc_95ci": ci[1].round(4).tolist()}
        print(f"{line}   minus v1: age r [{ci[0][0]:+.3f}, {ci[0][1]:+.3f}]  "
              f"AUC [{ci[1][0]:+.3f}, {ci[1][1]:+.3f}]", flush=True)
        return sc - scores(*base[where], age[m], gender[m])

    built = variants(raw, tok)
    X1 = user_matrix(C, rows, w, n, built["v1"]())
    base = {k: score(X1, m) for k, m in split.items()}
    print(f"tuning split ({int(tuning.sum())} users; 95% paired bootstrap intervals of the "
          "difference to v1)")
    gains = {name: report(name, base["tuning"] if name == "v1" else
                          score(user_matrix(C, rows, w, n, make()), tuning), "tuning")
             for name, make in built.items()}
    # The rule fixed before looking at the held-out users: the largest summed gain on tuning.
    chosen = args.chosen or max((k for k in gains if k != "v1"), key=lambda k: gains[k].sum())
    out["chosen"] = chosen
    for where in ("held-out", "all"):
        print(f"{where} ({int(split[where].sum())} users): v1, v2 and the chosen variant")
        for name in dict.fromkeys(["v1", "v2 (centred, Zipf SIF)", chosen]):
            report(name, base[where] if name == "v1" else
                   score(user_matrix(C, rows, w, n, built[name]()), split[where]), where)
    print(f"wrote {write_results('static_variants', out)}")


if __name__ == "__main__":
    main()
