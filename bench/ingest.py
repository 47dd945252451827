"""Ingest throughput on a >= 1M-post corpus, and the tokenizer against DLATK's.

    nice -n 5 python3 bench/ingest.py [--posts 1000000] [--scratch DIR] [--keep]

1. Builds a corpus of ``--posts`` posts by replicating the blog corpus
   (``/work/shared/data/blogs/messages.csv.gz``, 31,674 posts) with new user and message ids
   per copy (``bench._dlatk.replicate_corpus``: copy k has ids ``k_<id>``, so every copy is a
   new set of users with the same texts), writes it as CSV to a scratch folder, and runs
   ``psyprofile init`` + ``psyprofile ingest`` on it in a child process: wall time, rows/s
   and the child's peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``).
2. Tokenizes the blog corpus with psyprofile's ``tokenize_many`` and with DLATK's
   ``happierfuntokenizing.Tokenizer`` (loaded from the DLATK sdist in psyprofile's cache, never
   copied into the repo) in this process: tokens/s and posts/s, whole posts and posts cut to
   140 characters, and the 1gram agreement: the share of DLATK's tokens that psyprofile also
   produces for the same post (multiset intersection, summed over posts).

Figures go to ``bench/out/ingest.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`

from bench._dlatk import BENCH_CACHE, blog_messages, replicate_corpus, write_results  # noqa: E402

_TWEET_CHARS = 140
_SUMMARY_RE = re.compile(r"run \d+: ([\d,]+) rows read, ([\d,]+) stored")


def _write_csv(parquet: Path, out: Path) -> int:
    """Stream ``parquet`` to ``out`` as CSV one row group at a time; returns the byte size."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet)
    with pacsv.CSVWriter(out, pf.schema_arrow) as writer:
        for i in range(pf.num_row_groups):
            writer.write_table(pf.read_row_group(i))
    return out.stat().st_size


def _cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "psyprofile.cli.main", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc


def bench_ingest(n_posts: int, scratch: Path) -> dict:
    """Build the replicated CSV in ``scratch`` and time ``psyprofile ingest`` on it."""
    parquet = replicate_corpus(n_posts, BENCH_CACHE / f"replica_{n_posts}.parquet")
    csv = scratch / f"posts_{n_posts}.csv"
    t0 = time.perf_counter()
    csv_bytes = _write_csv(parquet, csv)
    print(f"wrote {csv} ({csv_bytes / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.0f} s",
          flush=True)
    study = scratch / "study"
    _cli("init", str(study))
    print(f"ingesting {n_posts:,} posts (minutes)...", flush=True)
    t0 = time.perf_counter()
    proc = _cli("ingest", str(study), str(csv), "--text-col", "message", "--user-col", "user_id",
                "--time-col", "created_time", "--id-col", "message_id", "--quiet")
    seconds = time.perf_counter() - t0
    # The largest child waited for so far; `init` is far smaller than the ingest.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout.strip(), flush=True)
    m = _SUMMARY_RE.search(proc.stdout)
    rows_read, rows_stored = (int(g.replace(",", "")) for g in m.groups()) if m else (None, None)
    return {
        "corpus": f"blog corpus replicated to {n_posts:,} posts, each copy with new user and "
                  "message ids (bench._dlatk.replicate_corpus), written as CSV",
        "posts": n_posts,
        "csv_mib": round(csv_bytes / 2**20, 1),
        "seconds": round(seconds, 1),
        "rows_read": rows_read,
        "rows_stored": rows_stored,
        "rows_per_second": round(rows_read / seconds) if rows_read else None,
        "peak_rss_mb": round(peak_mb, 1),
        "study_db_mib": round(sum(f.stat().st_size for f in study.rglob("*") if f.is_file())
                              / 2**20, 1),
    }


def _dlatk_tokenizer():
    """DLATK's Tokenizer class, imported from the sdist member in psyprofile's cache."""
    from psyprofile.datasets.dlatk_sdist import extract_member

    path = extract_member("dlatk/lib/happierfuntokenizing.py")
    spec = importlib.util.spec_from_file_location("dlatk_happierfuntokenizing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Tokenizer


def _timed(fn, texts: list[str]) -> tuple[list[list[str]], dict]:
    t0 = time.perf_counter()
    toks = fn(texts)
    seconds = time.perf_counter() - t0
    n = sum(map(len, toks))
    return toks, {"seconds": round(seconds, 2), "tokens": n, "tokens_per_second": round(n / seconds),
                  "posts_per_second": round(len(texts) / seconds)}


def bench_tokenizer() -> dict:
    """Speed of both tokenizers on the blog corpus, and how far their tokens agree."""
    from psyprofile.text.tokenize import tokenize_many

    dlatk = _dlatk_tokenizer()()  # lower-cases all but emoticons, like ours
    texts = blog_messages()["message"].tolist()
    tweets = [t[:_TWEET_CHARS] for t in texts]
    figures: dict = {"posts": len(texts)}
    for name, corpus in (("blog_posts", texts), (f"first_{_TWEET_CHARS}_chars", tweets)):
        ours, ours_fig = _timed(tokenize_many, corpus)
        theirs, dlatk_fig = _timed(lambda ts: [dlatk.tokenize(t) for t in ts], corpus)
        figures[name] = {
            "psyprofile": ours_fig,
            "dlatk": dlatk_fig,
            "speedup_posts_per_second": round(
                ours_fig["posts_per_second"] / dlatk_fig["posts_per_second"], 2),
        }
        print(f"tokenize {name}: psyprofile {ours_fig['tokens_per_second']:,} tokens/s "
              f"({ours_fig['posts_per_second']:,} posts/s), DLATK "
              f"{dlatk_fig['tokens_per_second']:,} tokens/s ({dlatk_fig['posts_per_second']:,} "
              f"posts/s): {figures[name]['speedup_posts_per_second']}x", flush=True)
        if name == "blog_posts":
            figures["agreement"] = _agreement(ours, theirs)
            print(f"1gram agreement: {figures['agreement']['share_of_dlatk_tokens']:.2%} of "
                  "DLATK's tokens", flush=True)
    return figures


def _agreement(ours: list[list[str]], theirs: list[list[str]], top: int = 15) -> dict:
    same = 0
    only_dlatk: Counter = Counter()
    only_ours: Counter = Counter()
    for a, b in zip(ours, theirs, strict=True):
        ca, cb = Counter(a), Counter(b)
        same += sum((ca & cb).values())
        only_dlatk.update(cb - ca)
        only_ours.update(ca - cb)
    n_dlatk = sum(map(len, theirs))
    return {
        "share_of_dlatk_tokens": round(same / n_dlatk, 4),
        "dlatk_tokens": n_dlatk,
        "psyprofile_tokens": sum(map(len, ours)),
        "top_only_dlatk": only_dlatk.most_common(top),
        "top_only_psyprofile": only_ours.most_common(top),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=1_000_000, help="posts in the ingest corpus")
    ap.add_argument("--scratch", type=Path, help="folder for the CSV and the study (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="psyprofile-ingest-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    command = "nice -n 5 python3 bench/ingest.py" + (
        f" --posts {args.posts}" if args.posts != 1_000_000 else "")
    try:
        figures = {"command": command, "tokenizer": bench_tokenizer(),
                   "ingest": bench_ingest(args.posts, scratch)}
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(write_results("ingest", figures).read_text())


if __name__ == "__main__":
    main()
