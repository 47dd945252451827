"""Feature extraction on the blog corpus: psyprofile against DLATK 1.3.15, in one run.

    python3 bench/features.py [--workdir DIR] [--dlatk-3grams] [--embed-sample N]
                              [--scale 1000000 [--scale-only]] [--combined-only]

Steps (every psyprofile step in a fresh spawned process, for its own time and peak memory):

1. ingest ``blogs/messages.csv.gz`` into a scratch study with ``psyprofile ingest``;
2. psyprofile 1grams, the weighted NRC emotion lexicon and the 2,000 Facebook topics
   (``fb2000_cp``) from them, each in its own process as DLATK runs them, and all three in
   one call (``psyprofile features STUDY --lexicon nrc_emot --lexicon fb2000_cp``, the
   combined figure); 1-3grams (with ``1to3gram``) in a copy of the study; the
   occurrence filter at 5% of the users with >= 500 words; embeddings of a sample of posts
   (``--embed-sample``, default 1,000; 0 skips) for messages per second;
3. DLATK: 1grams, ``nrc_emot`` and ``fb2000_cp`` (``--weighted_lexicon``) and its occurrence
   filter; its 1-3grams only with ``--dlatk-3grams`` (449 s here), otherwise the README's
   figure is used and marked as such;
4. agreement: the share of (user, 1gram) pairs, over those both tools have, whose counts are
   identical (DLATK's user ids mapped to ours with the study's pseudonymiser);
5. ``--scale N``: N posts (copies of the corpus as new users) through 1-3grams.

Peak memory: ``peak_rss_mb`` is the measured process; ``worker_peak_rss_mb`` is the largest
tokenizing worker it started (there are two), so the whole tree peaks below
``peak_rss_mb + 2 * worker_peak_rss_mb``. ``cpu_seconds`` is the user + system time of the
measured call and the workers it started (for DLATK: of its whole command); on a shared
machine it is steadier than wall time. Writes ``bench/out/features.json``, or with
``--combined-only`` (just the 1gram + lexicon + topics figures, both tools)
``bench/out/features_combined.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`

LEXICA = ("nrc_emot", "fb2000_cp")

DLATK_README = {"1to3gram_seconds": 449, "1to3gram_peak_rss_mb": 2.6 * 1024}
COLUMNS = ["--text-col", "message", "--user-col", "user_id", "--id-col", "message_id",
           "--time-col", "created_time"]


def ingest(study: Path, source: Path, fmt: str) -> float:
    """Create ``study`` and ingest ``source`` with the CLI; returns the seconds taken."""
    t0 = time.perf_counter()
    subprocess.run(["psyprofile", "init", str(study)], check=True, capture_output=True)
    subprocess.run(["psyprofile", "ingest", str(study), str(source), "--format", fmt, "--quiet",
                    *COLUMNS], check=True)
    return time.perf_counter() - t0


def copy_study(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def _dl():
    """The shared helpers, imported on first use rather than at the top: psyprofile's
    workers re-import this module, and the pandas the helpers load would add a second of
    start-up to each, which ``psyprofile features`` does not pay."""
    import bench._dlatk as dl

    return dl


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _tree_cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    return _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)


def _with_workers(report: dict, cpu0: float) -> dict:
    report["worker_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report["cpu_seconds"] = _tree_cpu() - cpu0
    return report


def run_extract(study: str, kwargs: dict) -> dict:
    cpu0 = _tree_cpu()
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.store.workspace import Workspace

    return _with_workers(extract_features(Workspace.open(study), FeatureOptions(**kwargs),
                                          progress=False), cpu0)


def run_lexicon(study: str, lexicon: str) -> dict:
    cpu0 = _tree_cpu()
    from psyprofile.features.lexicon import extract_lexicon
    from psyprofile.store.workspace import Workspace

    res = extract_lexicon(Workspace.open(study), lexicon, progress=False)
    return {**res, "cpu_seconds": _tree_cpu() - cpu0}


def run_dlatk_timed(args: list[str], home: Path) -> dict:
    """DLATK's ``seconds``, ``peak_rss_mb`` and ``cpu_seconds`` for one command."""
    cpu0 = _cpu(resource.RUSAGE_CHILDREN)
    r = _dl().run_dlatk(args, home)
    return {"seconds": r["seconds"], "peak_rss_mb": r["peak_rss_mb"],
            "cpu_seconds": _cpu(resource.RUSAGE_CHILDREN) - cpu0}


def run_embeddings(study: str) -> dict:
    from psyprofile.features.embeddings import extract_embeddings
    from psyprofile.store.workspace import Workspace

    return extract_embeddings(Workspace.open(study), progress=False)


def figures(m: dict) -> dict:
    res = m["result"] if isinstance(m["result"], dict) else {}
    out = {"seconds": round(m["seconds"], 2), "peak_rss_mb": round(m["peak_rss_mb"], 1)}
    for key in ("worker_peak_rss_mb", "cpu_seconds"):
        if key in res:
            out[key] = round(res[key], 1 if key.endswith("mb") else 2)
    return out


def agreement(study: Path, home: Path) -> dict:
    """Identical 1gram counts on the (user, feature) pairs both tools have."""
    import pandas as pd

    from psyprofile.store.workspace import Workspace

    ws = Workspace.open(study)
    theirs = _dl().read_dlatk_table(home, "feat$1gram$msgs$user_id")
    pseudo = ws.pseudonymizer("user")
    ids = {u: pseudo(str(u)) for u in theirs["group_id"].unique()}
    theirs = pd.DataFrame({"group_id": theirs["group_id"].map(ids), "feature": theirs["feat"],
                           "dlatk": theirs["value"].astype(float)})
    with ws.connect() as con:
        ours = con.sql('SELECT group_id, feature, value AS ours FROM "feat$1gram$user"').df()
    both = ours.merge(theirs, on=["group_id", "feature"], how="inner")
    return {
        "pairs_ours": len(ours), "pairs_dlatk": len(theirs), "pairs_shared": len(both),
        "share_identical_values": round(float((both["ours"] == both["dlatk"]).mean()), 4),
        "share_of_dlatk_pairs_shared": round(len(both) / len(theirs), 4),
    }


def dlatk_occ_features(home: Path) -> int:
    run_dlatk, read_dlatk_table = _dl().run_dlatk, _dl().read_dlatk_table
    run_dlatk(["-f", "feat$1gram$msgs$user_id", "--feat_occ_filter", "--set_p_occ", "0.05",
               "--group_freq_thresh", "500"], home)
    return int(read_dlatk_table(home, "feat$1gram$msgs$user_id$0_05")["feat"].nunique())


def scale_run(work: Path, posts: int) -> dict:
    """``posts`` posts (copies of the corpus as new users) ingested and through 1-3grams."""
    print(f"psyprofile: {posts:,} posts through 1-3grams", flush=True)
    measure, replicate_corpus = _dl().measure, _dl().replicate_corpus
    corpus = replicate_corpus(posts, work / f"corpus_{posts}.parquet")
    big = work / f"scale_{posts}"
    shutil.rmtree(big, ignore_errors=True)
    secs = ingest(big, corpus, "parquet")
    m = measure(run_extract, str(big), {"ngrams": (1, 2, 3)})
    return {"posts": posts, "ingest_seconds": round(secs, 1), **figures(m),
            "sets": m["result"]["sets"], "target": "peak <= 4 GB"}


def combined_ratios(ours: dict, theirs: dict) -> dict:
    """DLATK's time for 1grams + NRC + topics over ours: the sum of the separate steps, and
    our single call; the same for CPU time."""
    parts = ("1gram", *LEXICA)
    dl = {k: sum(theirs[p][k] for p in parts) for k in ("seconds", "cpu_seconds")}
    steps = {k: sum(ours[p][k] for p in parts) for k in ("seconds", "cpu_seconds")}
    one = ours["1gram_lexicon_topics"]
    return {
        "throughput_1gram_lexicon_topics": round(dl["seconds"] / steps["seconds"], 2),
        "seconds_ours": round(steps["seconds"], 2), "seconds_dlatk": round(dl["seconds"], 2),
        "throughput_1gram_lexicon_topics_one_call": round(dl["seconds"] / one["seconds"], 2),
        "seconds_ours_one_call": one["seconds"],
        "cpu_ratio_1gram_lexicon_topics": round(dl["cpu_seconds"] / steps["cpu_seconds"], 2),
        "cpu_ratio_1gram_lexicon_topics_one_call": round(dl["cpu_seconds"] / one["cpu_seconds"], 2),
        "cpu_seconds_ours": round(steps["cpu_seconds"], 2),
        "cpu_seconds_ours_one_call": one["cpu_seconds"],
        "cpu_seconds_dlatk": round(dl["cpu_seconds"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="Scratch folder (default: a new temp folder).")
    ap.add_argument("--dlatk-3grams", action="store_true",
                    help="Also time DLATK's 1-3grams (about 8 minutes).")
    ap.add_argument("--embed-sample", type=int, default=1000,
                    help="Posts embedded for the embedding throughput (0 skips).")
    ap.add_argument("--scale", type=int, help="Also run 1-3grams on this many posts.")
    ap.add_argument("--scale-only", action="store_true",
                    help="Only the --scale run, added to an existing bench/out/features.json.")
    ap.add_argument("--combined-only", action="store_true",
                    help="Only 1grams + lexicon + topics, both tools "
                         "(writes bench/out/features_combined.json).")
    args = ap.parse_args()
    dl = _dl()
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-features-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.scale_only:
        if not args.scale:
            ap.error("--scale-only needs --scale N")
        prev = dl.OUT_DIR / "features.json"
        out = json.loads(prev.read_text()) if prev.exists() else {}
        out["scale"] = scale_run(work, args.scale)
        out["scale"]["command"] = "python3 bench/features.py " + " ".join(sys.argv[1:])
        print(f"wrote {dl.write_results('features', out)}: {out['scale']}")
        return
    out: dict = {"command": "python3 bench/features.py " + " ".join(sys.argv[1:]),
                 "psyprofile": {}, "dlatk": {}}
    ours, theirs = out["psyprofile"], out["dlatk"]
    full = not args.combined_only

    base = work / "blogs"
    shutil.rmtree(base, ignore_errors=True)
    ours["ingest_seconds"] = round(ingest(base, dl.BLOGS / "messages.csv.gz", "csv"), 2)
    s1 = copy_study(base, work / "s1")
    s2 = copy_study(base, work / "s2")

    print("psyprofile: 1grams, lexicon, topics" + (", 1-3grams" if full else ""), flush=True)
    m = dl.measure(run_extract, str(s1), {"ngrams": (1,)})
    ours["1gram"] = {**figures(m), **m["result"]["sets"]["1gram"]}
    for lex in LEXICA:
        m = dl.measure(run_lexicon, str(s1), lex)
        ours[lex] = {**m["result"], **figures(m)}
    m = dl.measure(run_extract, str(s2), {"ngrams": (1,), "lexica": LEXICA})
    ours["1gram_lexicon_topics"] = {**figures(m), "sets": m["result"]["sets"]}
    if full:
        s3 = copy_study(base, work / "s3")
        m = dl.measure(run_extract, str(s3), {"ngrams": (1, 2, 3)})
        ours["1to3gram"] = {**figures(m), **{k: v for k, v in m["result"]["sets"].items()}}
        m = dl.measure(run_extract, str(s1), {"ngrams": (1,), "min_users_pct": 0.05})  # W = 500
        ours["occ_filter_0.05_500"] = {**figures(m), **m["result"]["sets"]["1gram_occ0.05"]}

    if full and args.embed_sample:
        print(f"psyprofile: embeddings of {args.embed_sample:,} posts", flush=True)
        sample = work / "sample.csv"
        import pandas as pd

        pd.read_csv(dl.BLOGS / "messages.csv.gz", nrows=args.embed_sample).to_csv(sample, index=False)
        se = work / "embed"
        shutil.rmtree(se, ignore_errors=True)
        ingest(se, sample, "csv")
        try:
            m = dl.measure(run_embeddings, str(se))
            emb = m["result"]
            ours["embeddings_minilm"] = {**figures(m), "messages": emb.get("messages_embedded"),
                                         "messages_per_second": round(
                                             emb.get("messages_embedded", 0) / m["seconds"], 1)}
        except Exception as exc:  # report, do not lose the other figures
            ours["embeddings_minilm"] = {"error": str(exc)[:300]}

    print("DLATK: 1grams, nrc_emot, fb2000_cp" + (", occurrence filter" if full else ""),
          flush=True)
    home = dl.make_dlatk_home(work, fresh=True)
    theirs["1gram"] = run_dlatk_timed(["--add_ngrams", "-n", "1"], home)
    for lex in LEXICA:
        theirs[lex] = run_dlatk_timed(["--add_lex_table", "-l", lex, "--weighted_lexicon"], home)
    if full:
        theirs["occ_filter_0.05_500_features"] = dlatk_occ_features(home)
    if full and args.dlatk_3grams:
        theirs["1to3gram"] = run_dlatk_timed(
            ["--add_ngrams", "-n", "1", "2", "3", "--combine_feat_tables", "1to3gram"], home)
    elif full:
        theirs["1to3gram"] = {"seconds": DLATK_README["1to3gram_seconds"],
                              "peak_rss_mb": DLATK_README["1to3gram_peak_rss_mb"],
                              "source": "README figure (run with --dlatk-3grams to measure)"}

    out["ratios"] = {**combined_ratios(ours, theirs),
                     "targets": "1gram+lexicon+topics >= 20x; 1to3gram <= 22 s and <= 1 GiB"}
    if full:
        out["ratios"]["throughput_1to3gram"] = round(
            theirs["1to3gram"]["seconds"] / ours["1to3gram"]["seconds"], 2)
    out["agreement_1gram"] = agreement(s1, home)

    if args.scale:
        out["scale"] = scale_run(work, args.scale)

    path = dl.write_results("features" if full else "features_combined", out)
    print(f"wrote {path}")
    r = out["ratios"]
    print(f"1gram+lexicon+topics, one call: psyprofile {r['seconds_ours_one_call']} s "
          f"(CPU {r['cpu_seconds_ours_one_call']} s), DLATK {r['seconds_dlatk']} s "
          f"(CPU {r['cpu_seconds_dlatk']} s) -> {r['throughput_1gram_lexicon_topics_one_call']}x"
          f" (CPU {r['cpu_ratio_1gram_lexicon_topics_one_call']}x)")
    print(f"1gram+lexicon+topics, three processes: psyprofile {r['seconds_ours']} s "
          f"(CPU {r['cpu_seconds_ours']} s) -> {r['throughput_1gram_lexicon_topics']}x "
          f"(CPU {r['cpu_ratio_1gram_lexicon_topics']}x)")
    if full:
        print(f"1-3grams: psyprofile {ours['1to3gram']['seconds']} s, peak "
              f"{ours['1to3gram']['peak_rss_mb']} MiB (+ workers "
              f"{ours['1to3gram'].get('worker_peak_rss_mb')} MiB each); DLATK "
              f"{theirs['1to3gram']['seconds']} s -> {r['throughput_1to3gram']}x")
        print(f"occurrence filter 5%/500 words: psyprofile "
              f"{ours['occ_filter_0.05_500']['features']:,} 1grams, DLATK "
              f"{theirs['occ_filter_0.05_500_features']:,}")
    a = out["agreement_1gram"]
    print(f"1gram agreement: {a['share_identical_values']:.1%} identical on {a['pairs_shared']:,} "
          f"shared pairs ({a['share_of_dlatk_pairs_shared']:.1%} of DLATK's)")


if __name__ == "__main__":
    main()
