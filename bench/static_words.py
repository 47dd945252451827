"""How the static table's v3 was chosen: whole English words added to its vocabulary.

Run: ``nice -n 10 python3 bench/static_words.py [--raw PATH]`` (writes
``bench/out/static_words.json``; ``--raw``: a cache of the raw piece vectors, as in
``bench/static_variants.py``).

``bench/static_variants.py`` found no post-processing of the wordpiece rows better than v1:
a static table's user-level validity seemed set by the bag of units it projects. So this
family changes the bag (model2vec's ``vocabulary`` option): the N most frequent English words
of ``wordfreq`` that WordPiece cuts into several pieces each get their own row, embedded
alone by the full model as a piece is, and a message's listed words count as one entry
(``boyfriend``, not ``boy ##friend``). N is 20k, 50k or 100k, and the rows are weighted four
ways: v1's ``log1p(index)`` with the words after the pieces, v1's weights of the word's own
pieces (their mean), v2's Zipf SIF by rank with the words after the pieces, and SIF from
wordfreq's frequencies (``static_embed.entry_probabilities``: an added word its own, a piece
that of the other listed words it occurs in); plus wordfreq SIF with no words added, to tell
the two changes apart. The protocol and the rule are ``static_variants.compare``'s: choose on
the 300 tuning users by the largest summed gain over v1, then report once on the 678
held-out users and on all 978, with 95% paired bootstrap intervals against v1 and v2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import write_results  # noqa: E402
from bench.embeddings import v1_weights, v2_table, zipf_sif_weights  # noqa: E402
from bench.static_variants import V2, Users, compare, raw_pieces  # noqa: E402

SIZES = (20_000, 50_000, 100_000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, help="cache file of the raw piece vectors (.npy)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from psyprofile.features import static_embed as S
    from psyprofile.features.embeddings import MiniLM, Wordpieces, wordpieces

    tok = wordpieces()
    raw = raw_pieces(args.raw)
    freq = S.english_frequencies()
    names = S.added_words(tok, freq, max(SIZES))
    word_rows = S.word_vectors(MiniLM("onnx-fp32", batch_size=1024), names, progress=False)
    users = Users()
    out: dict = {"_users": {k: int(m.sum()) for k, m in users.split.items()},
                 "_posts": len(users.texts), "_words_listed": len(names)}
    C0 = S.piece_counts(tok.ids(users.texts), tok.vocab_size)
    no_words = np.empty((0, raw.shape[1]), np.float32)
    makers = {
        "v1": lambda: users.matrix(C0, raw * v1_weights(len(raw))[:, None]),
        V2: lambda: users.matrix(C0, v2_table(raw)),
        "no words, wordfreq SIF": lambda: users.matrix(
            C0, S.post_process(raw, no_words, S.entry_probabilities(tok, freq))),
    }
    piece_w = v1_weights(len(raw))
    for n in SIZES:
        entries = Wordpieces(tuple(names[:n]))
        C = S.piece_counts(entries.ids(users.texts), entries.vocab_size)
        used = int((np.asarray(C[:, len(raw):].sum(axis=0)) > 0).sum())
        out[f"_{n}_words"] = {"entries_in_posts": int(C.sum()), "words_used": used}
        print(f"{n} words: the posts have {C.sum():.0f} entries ({C0.sum():.0f} pieces alone); "
              f"{used} of the words occur", flush=True)
        rows = np.concatenate([raw, word_rows[:n]])
        centred = rows.astype(np.float64) - raw.mean(axis=0)
        own = np.array([piece_w[ids].mean() for ids in tok.ids(names[:n])])
        p = S.entry_probabilities(entries, freq)
        makers.update({
            f"{n} words, v1 weights": lambda C=C, rows=rows: users.matrix(C, rows * v1_weights(len(rows))[:, None]),
            f"{n} words, v1 weights of their pieces":
                lambda C=C, rows=rows, own=own: users.matrix(C, rows * np.concatenate([piece_w, own])[:, None]),
            f"{n} words, Zipf SIF by rank": lambda C=C, c=centred: users.matrix(C, c * zipf_sif_weights(len(c))[:, None]),
            f"{n} words, wordfreq SIF": lambda C=C, n=n, p=p: users.matrix(
                C, S.post_process(raw, word_rows[:n], p)),
        })
    print(f"{users.n} users, {len(users.texts)} posts; {len(names)} words listed")
    chosen = compare(users, makers, out)
    shipped = f"{S.WORDS} words, wordfreq SIF"
    out["shipped_v3"] = shipped
    print(f"chosen by the rule: {chosen}; shipped as {S.RECIPE}: {shipped}"
          + ("" if chosen == shipped else "  (NOT the same: re-read the docstring of static_embed)"))
    print(f"wrote {write_results('static_words', out)}")


if __name__ == "__main__":
    main()
