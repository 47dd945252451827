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
paired bootstrap interval of its difference to v1 (and to v2). The whole-word variants that
gave v3 are in ``bench/static_words.py``, which runs the same protocol (:func:`compare`).
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
from bench.embeddings import (  # noqa: E402
    SEED,
    fold_users,
    oof,
    paired_ci,
    scores,
    v1_weights,
    v2_table,
    zipf_sif_weights,
)

TUNING_USERS = 300  # bench/embeddings.py's default --users


def user_matrix(C: sp.csr_matrix, rows: np.ndarray, w: np.ndarray, n: int, table: np.ndarray) -> np.ndarray:
    """(n users, dim): word-weighted means of the posts' static vectors under ``table``
    (``C``: the posts' piece counts, counted once for every variant)."""
    from psyprofile.features.embeddings import weighted_means
    from psyprofile.features.static_embed import message_vectors

    return weighted_means(rows, n, message_vectors(C, table), w)


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
    v1 = v1_weights(len(raw))[:, None]
    zipf = zipf_sif_weights(len(raw))[:, None]
    out = {
        "v1": lambda: raw * v1,
        "v2 (centred, Zipf SIF)": lambda: v2_table(raw),
        "centred, Zipf SIF a=1e-3": lambda: centred * zipf_sif_weights(len(raw), 1e-3)[:, None],
        "centred, Zipf SIF a=3e-4": lambda: centred * zipf_sif_weights(len(raw), 3e-4)[:, None],
        "centred, no weights": lambda: centred,
        "uncentred, Zipf SIF": lambda: raw * zipf,
        "centred, v1 weights": lambda: centred * v1,
        "top 5 PCs removed, v1 weights": lambda: remove_top_components(centred, 5) * v1,
    }
    for k in (1, 2, 3, 5, 10):
        out[f"top {k} PCs removed, Zipf SIF"] = lambda k=k: remove_top_components(centred, k) * zipf
    p = S.entry_probabilities(tok, S.english_frequencies())
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


class Users:
    """The users with folds, all their posts, and the three splits of the protocol."""

    def __init__(self):
        from psyprofile.text.tokenize import tokenize

        users = fold_users().reset_index(drop=True)
        tuning = users.user_id.isin(users.sample(TUNING_USERS, random_state=SEED).user_id).to_numpy()
        msgs = blog_messages()
        row_of = {u: i for i, u in enumerate(users.user_id)}
        posts = msgs[msgs.user_id.isin(row_of) & msgs.message.str.strip().ne("")]
        self.texts = posts.message.tolist()
        self.words = np.array([max(len(tokenize(x)), 1) for x in self.texts], float)
        self.rows = posts.user_id.map(row_of).to_numpy()
        self.n = len(users)
        self.age, self.gender = users.age.to_numpy(float), users.gender.to_numpy(int)
        self.fr, self.fc = users.fold_r.to_numpy(), users.fold_c.to_numpy()
        self.split = {"tuning": tuning, "held-out": ~tuning, "all": np.ones(self.n, bool)}

    def matrix(self, C: sp.csr_matrix, table: np.ndarray) -> np.ndarray:
        """(users, dim) word-weighted means of the posts' static vectors under ``table``
        (``C``: the posts' entry counts, in the table's rows)."""
        return user_matrix(C, self.rows, self.words, self.n, table)

    def score(self, X: np.ndarray, where: str) -> tuple:
        m = self.split[where]
        return oof(X[m], self.age[m], self.gender[m], self.fr[m], self.fc[m])


def compare(users: Users, makers: dict, out: dict, chosen: str | None = None) -> str:
    """Score every variant of ``makers`` (name -> function giving its user matrix; ``v1`` and
    ``v2 (centred, Zipf SIF)`` among them) on the tuning split against v1 and v2; choose one
    by the rule fixed in advance (the largest summed age r and AUC gain over v1 on tuning),
    unless ``chosen`` names it; score v1, v2 and the chosen one on the held-out split and on
    all users. Figures go to ``out``; returns the chosen name."""
    base = {}

    def report(name: str, pred: tuple, where: str) -> np.ndarray:
        """Print and record ``name``'s scores on ``where``; return its gains over v1."""
        m = users.split[where]
        age, gender = users.age[m], users.gender[m]
        sc = scores(*pred, age, gender)
        row = out.setdefault(where, {})[name] = {"age_r": round(float(sc[0]), 4),
                                                 "gender_auc": round(float(sc[1]), 4)}
        line = f"  {name:<42} age r {sc[0]:.3f}  AUC {sc[1]:.3f}"
        for ref in ("v1", V2):
            if name == ref or ref not in base.get(where, {}):
                continue
            ci = paired_ci(base[where][ref], pred, age, gender)
            row[f"minus {ref}"] = {"age_r_95ci": ci[0].round(4).tolist(),
                                   "gender_auc_95ci": ci[1].round(4).tolist()}
            line += (f"\n  {'':<42} minus {ref[:2]}: age r [{ci[0][0]:+.3f}, {ci[0][1]:+.3f}]  "
                     f"AUC [{ci[1][0]:+.3f}, {ci[1][1]:+.3f}]")
        print(line, flush=True)
        return sc - scores(*base[where]["v1"], age, gender)

    for where in users.split:
        base[where] = {}
        for ref in ("v1", V2):  # v1 first: v2 is reported against it
            X = makers[ref]()
            base[where][ref] = users.score(X, where)
    print(f"tuning split ({int(users.split['tuning'].sum())} users; 95% paired bootstrap "
          "intervals of the difference to v1 and to v2)")
    gains = {name: report(name, base["tuning"][name] if name in base["tuning"] else
                          users.score(make(), "tuning"), "tuning")
             for name, make in makers.items()}
    # The rule fixed before looking at the held-out users: the largest summed gain on tuning.
    chosen = chosen or max((k for k in gains if k != "v1"), key=lambda k: gains[k].sum())
    out["chosen"] = chosen
    for where in ("held-out", "all"):
        print(f"{where} ({int(users.split[where].sum())} users): v1, v2 and the chosen variant")
        for name in dict.fromkeys(["v1", V2, chosen]):
            report(name, base[where][name] if name in base[where] else
                   users.score(makers[name](), where), where)
    return chosen


V2 = "v2 (centred, Zipf SIF)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, help="cache file of the raw piece vectors (.npy)")
    ap.add_argument("--chosen", default=None,
                    help="the variant to report on the held-out users (default: the rule below)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from psyprofile.features import static_embed as S
    from psyprofile.features.embeddings import wordpieces

    tok = wordpieces()
    raw = raw_pieces(args.raw)
    users = Users()
    C = S.piece_counts(tok.ids(users.texts), tok.vocab_size)
    out: dict = {"_users": {k: int(m.sum()) for k, m in users.split.items()},
                 "_posts": len(users.texts)}
    print(f"{users.n} users ({int(users.split['tuning'].sum())} tuning, seed 0; "
          f"{int(users.split['held-out'].sum())} held out), {len(users.texts)} posts")
    makers = {name: (lambda make=make: users.matrix(C, make())) for name, make in variants(raw, tok).items()}
    compare(users, makers, out, args.chosen)
    print(f"wrote {write_results('static_variants', out)}")


def raw_pieces(cache: Path | None) -> np.ndarray:
    """The raw (vocab, 384) piece rows through ONNX fp32, read from / saved to ``cache``."""
    from psyprofile.features import static_embed as S
    from psyprofile.features.embeddings import MiniLM

    if cache and cache.exists():
        return np.load(cache)
    raw = S.piece_vectors(MiniLM("onnx-fp32", batch_size=1024), progress=False)
    if cache:
        np.save(cache, raw)
    return raw


if __name__ == "__main__":
    main()
