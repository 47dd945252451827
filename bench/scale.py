"""Scale-out bench: ingest and 1gram features on 100k, 300k and 1M posts, local vs Dask.

The blog corpus is replicated with new user and message ids (``replicate_corpus``) to each
size. Every (size, engine) run happens in a fresh process (``--one``) on a fresh study;
this process samples the memory of that process tree with psutil every 0.2 s. Engines:

* ``local``: the local engine, a pool of 2 spawned processes (``--engine local --workers 2``);
* ``dask1`` / ``dask2``: a Dask LocalCluster of 1 / 2 single-threaded worker processes
  (``--engine dask --workers N``).

Figures per run: wall seconds per stage, throughput (posts/s), peak resident memory of the
driver (exact, getrusage) and of each worker process (sampled), and a check that the feature
table equals the local engine's. Per engine and stage, cost against size is fitted on a
log-log scale (exponent 1 = linear) and as ``seconds = a + b * posts``.

    nice -n 5 python3 bench/scale.py [--sizes 100000,300000,1000000] [--engines local,dask1,dask2]

Writes ``bench/out/scale.json``. The machine may be shared: figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import BENCH_CACHE, OUT_DIR, replicate_corpus, write_results  # noqa: E402

ENGINES = {"local": ("local", 2), "dask1": ("dask", 1), "dask2": ("dask", 2)}
SAMPLE_SECONDS = 0.2


def run_one(spec: dict) -> dict:
    """One (size, engine) run in this process: ingest then 1gram features on a new study."""
    from psyprofile.engine import get_engine
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.io.ingest import ingest
    from psyprofile.store.db import one
    from psyprofile.store.workspace import Workspace

    name, workers = ENGINES[spec["engine"]]
    ws = Workspace.create(Path(spec["workdir"]) / "study")
    out: dict = {}
    t0 = time.perf_counter()
    with get_engine(name, workers=workers) as engine:
        out["engine_start_seconds"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        rep = ingest(ws, [spec["corpus"]], engine=engine, progress=False)
        out["ingest_seconds"] = round(time.perf_counter() - t0, 2)
        out["rows_stored"] = rep.rows_stored
        t0 = time.perf_counter()
        feats = extract_features(ws, FeatureOptions(ngrams=(1,)), engine=engine, progress=False)
        out["features_seconds"] = round(time.perf_counter() - t0, 2)
    with ws.connect(read_only=True) as con:
        n, total, norm = one(con, 'SELECT count(*), sum(value), sum(group_norm) FROM "feat$1gram$user"')
    out["feature_rows"] = int(n)
    out["feature_checksum"] = [int(total), round(float(norm), 6)]
    out["features"] = feats["sets"]["1gram"]["features"]
    out["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def measure_tree(spec: dict) -> dict:
    """Run ``spec`` in a child process; sample the RSS of it and its descendants."""
    import psutil

    result = Path(spec["workdir"]) / "result.json"
    proc = subprocess.Popen([sys.executable, __file__, "--one", json.dumps(spec)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peaks: dict[int, float] = {}
    tree_peak = 0.0
    t0 = time.perf_counter()
    while proc.poll() is None:
        total = 0.0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in procs:
            try:
                rss = p.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                continue
            peaks[p.pid] = max(peaks.get(p.pid, 0.0), rss)
            total += rss
        tree_peak = max(tree_peak, total)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"run {spec['engine']} {spec['size']} failed:\n{err[-3000:]}")
    out = json.loads(result.read_text())
    # helper processes (resource tracker, forkserver) stay small; workers hold the code
    workers = [v for pid, v in peaks.items() if pid != proc.pid and v > 80]
    out.update(wall_seconds=round(wall, 2), tree_peak_rss_mb=round(tree_peak, 1),
               worker_peak_rss_mb=round(max(workers), 1) if workers else None,
               worker_processes_seen=len(workers))
    return out


def fit(sizes: list[int], seconds: list[float]) -> dict:
    """Exponent of seconds ~ posts^k (log-log least squares) and the linear fit a + b*posts."""
    x, y = np.array(sizes, float), np.array(seconds, float)
    k = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    b, a = np.polyfit(x, y, 1)
    r2 = 1 - ((y - (a + b * x)) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12)
    return {"loglog_exponent": round(k, 3), "intercept_seconds": round(float(a), 2),
            "seconds_per_million_posts": round(float(b) * 1e6, 1), "linear_r2": round(float(r2), 4)}


def summarize(runs: list[dict], engines: list[str]) -> tuple[Path, dict]:
    """Compare each run with the local engine's, fit the scaling, write scale.json."""
    for r in runs:
        ref = next((q for q in runs if q["engine"] == "local" and q["posts"] == r["posts"]), None)
        r["same_features_as_local"] = (None if ref is None else
                                       (r["feature_rows"], r["feature_checksum"])
                                       == (ref["feature_rows"], ref["feature_checksum"]))
    scaling = {}
    for eng in engines:
        mine = sorted((r for r in runs if r["engine"] == eng), key=lambda r: r["posts"])
        if len(mine) >= 2:
            scaling[eng] = {stage: fit([r["posts"] for r in mine],
                                       [r[f"{stage}_seconds"] for r in mine])
                            for stage in ("ingest", "features")}
    cmd = ("nice -n 5 python3 bench/scale.py " + " ".join(sys.argv[1:])).strip()
    old = OUT_DIR / "scale.json"
    commands: list[str] = []
    if "--keep" in sys.argv and old.exists():
        prev = json.loads(old.read_text())
        commands = prev.get("commands") or [prev["command"]]
    path = write_results("scale", {
        "commands": commands + [cmd] if cmd not in commands else commands, "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(),
        "engines": {k: {"engine": v[0], "workers": v[1]} for k, v in ENGINES.items()},
        "runs": runs, "scaling": scaling,
        "note": "ingest + 1gram features per run on a fresh study; worker memory sampled "
                "every 0.2 s (short peaks can be missed); wall times on a shared 2-core machine",
    })
    return path, scaling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--workdir", type=Path, help="Scratch folder (default: a temporary one).")
    ap.add_argument("--keep", action="store_true",
                    help="Add to the runs already in bench/out/scale.json (a run of the same "
                         "engine and size is replaced), e.g. to add sizes one at a time.")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        spec = json.loads(args.one)
        (Path(spec["workdir"]) / "result.json").write_text(json.dumps(run_one(spec)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    scratch = args.workdir or Path(tempfile.mkdtemp(prefix="psyprofile-scale-"))
    runs: list[dict] = []
    if args.keep and (OUT_DIR / "scale.json").exists():
        runs = [r for r in json.loads((OUT_DIR / "scale.json").read_text())["runs"]
                if (r["engine"], r["posts"]) not in {(e, n) for e in engines for n in sizes}]
        engines_seen = [e for e in ENGINES if e in engines or any(r["engine"] == e for r in runs)]
    else:
        engines_seen = engines
    for size in sizes:
        corpus = replicate_corpus(size, BENCH_CACHE / f"blogs_{size}.parquet")
        for eng in engines:
            work = scratch / f"{eng}_{size}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            r = measure_tree({"engine": eng, "size": size, "corpus": str(corpus),
                              "workdir": str(work)})
            r.update(engine=eng, posts=size,
                     ingest_posts_per_second=round(size / r["ingest_seconds"]),
                     features_posts_per_second=round(size / r["features_seconds"]))
            runs.append(r)
            shutil.rmtree(work, ignore_errors=True)
            # written after every run, so a bench stopped early keeps its figures
            path, scaling = summarize(runs, engines_seen)
            print(f"{size:>9,} {eng:<6} ingest {r['ingest_seconds']:7.1f} s "
                  f"({r['ingest_posts_per_second']:,}/s)  features {r['features_seconds']:7.1f} s "
                  f"({r['features_posts_per_second']:,}/s)  driver {r['driver_peak_rss_mb']:.0f} MiB"
                  f"  worker {r['worker_peak_rss_mb'] or 0:.0f} MiB  tree {r['tree_peak_rss_mb']:.0f} MiB",
                  flush=True)
    for eng, fits in scaling.items():
        for stage, f in fits.items():
            print(f"{eng:<6} {stage:<9} exponent {f['loglog_exponent']:.2f}  "
                  f"{f['seconds_per_million_posts']:.0f} s per 1M posts  R2 {f['linear_r2']:.3f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
