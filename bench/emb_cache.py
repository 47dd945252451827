"""Bench: reading one model's embedding cache, a table per cache vs one table for all caches.

Why the per-message vector caches stay one table each (issue 20.5): the read
``features.embeddings.aggregate`` makes (messages joined to the cache, vectors to numpy) of
30,000 posts x 384 floats, from the table of that cache alone (``FLOAT[384]``), against one
shared table keyed by (cache key, message id) holding three caches (``FLOAT[]``: models
differ in width). Synthetic vectors in a temporary DuckDB file; best of 5 after a warm-up.

Run from the repo root: ``nice -n 10 python3 bench/emb_cache.py``. Writes
``bench/out/emb_cache.json``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import write_results  # noqa: E402

N, DIM, KEY = 30_000, 384, "minilm$onnx-int8$0123456789"


def build(con: duckdb.DuckDBPyConnection) -> None:
    """``messages`` (1,000 users), the per-cache table and the shared table of three caches."""
    rng = np.random.default_rng(0)
    ids = [f"m{i:07d}" for i in range(N)]
    con.register("_m", pa.table({"message_id": ids, "user_id": [f"u{i % 1000}" for i in range(N)]}))
    con.execute("CREATE TABLE messages AS SELECT * FROM _m")
    vec = pa.FixedSizeListArray.from_arrays(
        pa.array(rng.standard_normal(N * DIM).astype(np.float32)), DIM)
    con.register("_b", pa.table({"message_id": ids, "vector": vec,
                                 "n_words": np.full(N, 20, np.int32)}))
    con.execute(f'CREATE TABLE "emb${KEY}" (message_id VARCHAR PRIMARY KEY, '
                f"vector FLOAT[{DIM}], n_words INTEGER)")
    con.execute(f'INSERT INTO "emb${KEY}" SELECT * FROM _b')
    con.execute("CREATE TABLE emb_cache (cache_key VARCHAR, message_id VARCHAR, vector FLOAT[], "
                "n_words INTEGER, PRIMARY KEY (cache_key, message_id))")
    for key in ("other$1", KEY, "other$2"):  # the cache read sits among others
        con.execute("INSERT INTO emb_cache SELECT ?, message_id, vector::FLOAT[], n_words FROM _b",
                    [key])
    con.execute("CHECKPOINT")


def read(rel: duckdb.DuckDBPyRelation) -> np.ndarray:
    """The (rows, DIM) vectors of a cache read, as ``aggregate`` turns them into numpy."""
    vec = rel.to_arrow_table().column("vector").combine_chunks()
    return vec.flatten().to_numpy().reshape(len(vec), -1)


def best(fn: Callable[[], np.ndarray], repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        build(con)
        per_cache = best(lambda: read(con.sql(
            f'SELECT m.user_id, c.vector, c.n_words FROM messages m JOIN "emb${KEY}" c '
            "USING (message_id)")))
        shared = best(lambda: read(con.sql(
            "SELECT m.user_id, c.vector, c.n_words FROM messages m JOIN emb_cache c "
            "ON c.message_id = m.message_id AND c.cache_key = ?", params=[KEY])))
        con.close()
    result = {"posts": N, "dim": DIM, "per_cache_s": round(per_cache, 4),
              "shared_s": round(shared, 4), "shared_over_per_cache": round(shared / per_cache, 2)}
    write_results("emb_cache", result)
    print(f"cache read of {N:,} posts x {DIM}: table per cache {per_cache:.3f} s, shared table "
          f"{shared:.3f} s ({shared / per_cache:.2f}x)")


if __name__ == "__main__":
    main()
