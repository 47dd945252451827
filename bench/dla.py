"""Bench: differential language analysis (age, gender) of the blog corpus, psyprofile vs DLATK.

Features: occurrence-filtered 1grams (used by >= 5% of the users with >= 500 words) and the
2,000 fb2000_cp topics, extracted once by each tool (not timed here; both are cached between
runs). Timed: psyprofile's ``run_dla`` over both sets and both outcomes in a fresh process
(total wall time, and its correlation step alone) against DLATK 1.3.15 ``--correlate`` on
each of its two feature tables, in the same run. Agreement: Spearman correlation of the two
tools' effects over shared features (DLATK reports Pearson r for gender too; psyprofile a
logistic coefficient, so rank agreement is the fair measure there).

Run from the repo root: ``nice -n 5 python3 bench/dla.py``. Writes ``bench/out/dla.json``.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
from bench._dlatk import (  # noqa: E402
    BENCH_CACHE,
    BLOGS,
    dlatk_feature_tables,
    make_dlatk_home,
    measure,
    run_dlatk,
    write_results,
)

WORK = BENCH_CACHE / "dla"
OUTCOMES = ["age", "gender"]
P_OCC = 0.05
SETS = {"1gram_occ0.05": "1grams (occurrence >= 5%)", "fb2000_cp": "fb2000 topics"}
TOP = 20


def psyprofile_study(lexicon_db: Path) -> tuple[Path, dict[str, Any]]:
    """The blog study with 1grams, their 5% occurrence filter and fb2000_cp topics (built once;
    the topics from the same DLATK lexicon table DLATK uses). Returns its path and timings."""
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.store.outcomes import load_outcomes
    from psyprofile.store.workspace import Workspace

    path = WORK / "study"
    info: dict[str, Any] = {}
    if not (path / "study.duckdb").exists():
        ws = Workspace.create(path)
        t0 = time.perf_counter()
        cols = ColumnMap(text="message", user="user_id", time="created_time", id="message_id")
        rep = ingest(ws, [BLOGS / "messages.csv.gz"], fmt="csv", columns=cols, progress=False)
        info["ingest_seconds"] = time.perf_counter() - t0
        info["posts_stored"] = rep.rows_stored
        load_outcomes(ws, BLOGS / "users.csv", columns=OUTCOMES)
    ws = Workspace.open(path)
    t0 = time.perf_counter()
    extract_features(ws, FeatureOptions(level="user", ngrams=(1,), lexica=(f"{lexicon_db}:fb2000_cp",
                                                                           ), min_users_pct=P_OCC),
                     progress=False)
    info["extract_seconds_this_run"] = time.perf_counter() - t0  # ~0 when cached
    return path, info


def run_psyprofile_dla(study: Path) -> tuple[Any, dict[str, Any]]:
    """Module-level so :func:`measure` can run it in a fresh process."""
    from psyprofile.analysis.dla import run_dla
    from psyprofile.store.workspace import Workspace

    res = run_dla(Workspace.open(study), OUTCOMES, list(SETS), progress=False)
    return res, res.attrs["summary"]


def read_dlatk_csv(path: Path) -> dict[str, dict[str, tuple[float, float, int]]]:
    """DLATK's ``--correlate --csv`` file: outcome -> feature -> (r, corrected p, N)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("feature,"))
    rows = list(csv.reader(lines[start:]))
    header = rows[0]
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for outcome in OUTCOMES:
        j = header.index(outcome)
        out[outcome] = {r[0]: (float(r[j]), float(r[j + 1]), int(float(r[j + 2])))
                        for r in rows[1:] if r}
    return out


def side_by_side(ours: Any, theirs: dict[str, tuple[float, float, int]], title: str) -> str:
    """Top features of each direction, ours next to DLATK's."""
    import numpy as np

    t = {f: v[0] for f, v in theirs.items() if np.isfinite(v[0])}
    t_sorted = sorted(t.items(), key=lambda kv: -kv[1])
    o = ours.dropna(subset=["coef"])
    lines = [f"\n{title}", f"  {'rank':>4}  {'psyprofile':<24} {'r':>7}   {'DLATK':<24} {'r':>7}"]
    for label, o_side, t_side in (
        ("positive", o.head(TOP), t_sorted[:TOP]),
        ("negative", o.sort_values("coef").head(TOP), t_sorted[::-1][:TOP]),
    ):
        lines.append(f"  -- {label}")
        for i, (a, b) in enumerate(zip(o_side.itertuples(index=False), t_side, strict=False)):
            lines.append(f"  {i + 1:>4}  {a.feature[:24]:<24} {a.coef:>7.3f}   "
                         f"{b[0][:24]:<24} {b[1]:>7.3f}")
    return "\n".join(lines)


def main() -> None:
    import numpy as np
    from scipy.stats import spearmanr

    from psyprofile.analysis.dla import correct_p

    WORK.mkdir(parents=True, exist_ok=True)
    home = make_dlatk_home(WORK)
    study, prep = psyprofile_study(home / "sqlite_data" / "dlatk_lexica.db")
    tables = dlatk_feature_tables(home)

    ours = measure(run_psyprofile_dla, study)
    res, summary = ours["result"]
    dlatk: dict[str, Any] = {}
    theirs: dict[str, dict[str, dict]] = {}
    for name, table in tables.items():
        out = WORK / f"dlatk_dla_{name}"
        run = run_dlatk(["-f", table, "--outcome_table", "blog_outcomes", "--outcomes", *OUTCOMES,
                         "--group_freq_thresh", "500", "--correlate", "--csv",
                         "--output_name", str(out)], home)
        dlatk[name] = {"seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"]}
        theirs[name] = read_dlatk_csv(out.with_name(out.name + ".csv"))

    figures: dict[str, Any] = {
        "command": "nice -n 5 python3 bench/dla.py",
        # the machine is shared: 1/5/15-minute load averages when the timed steps ended
        "load_average": os.getloadavg(),
        "psyprofile": {"seconds_total": ours["seconds"], "peak_rss_mb": ours["peak_rss_mb"],
                       # load: reading the feature matrices and outcomes from the study
                       "seconds_steps": summary["seconds"], "users": summary["groups_eligible"],
                       "excluded_min_words": summary["excluded_min_words"],
                       "features": summary["features"], "outcomes": summary["outcomes"],
                       "preparation": prep},
        "dlatk": dlatk,
        "agreement": {},
    }
    dlatk_total = sum(d["seconds"] for d in dlatk.values())
    figures["speedup_total"] = dlatk_total / ours["seconds"]
    figures["speedup_correlation_step"] = dlatk_total / summary["seconds"]["correlate"]
    report = [f"DLA of {', '.join(OUTCOMES)} over {', '.join(SETS)} "
              f"({summary['groups_eligible']} users with >= 500 words)"]
    for name in SETS:
        for outcome in OUTCOMES:
            o = res[(res.outcome == outcome) & (res.feature_set == name)].set_index("feature")
            t = theirs[name][outcome]
            shared = [f for f in o.index if f in t and np.isfinite(t[f][0])
                      and np.isfinite(o.coef[f])]
            rho = spearmanr([o.coef[f] for f in shared], [t[f][0] for f in shared])[0]
            n_t = {v[2] for v in t.values()}
            figures["agreement"][f"{outcome}/{name}"] = {
                "spearman": rho, "shared_features": len(shared), "ours_features": len(o),
                "dlatk_features": len(t), "ours_n": int(o.n.iloc[0]), "dlatk_n": sorted(n_t),
                # BH over both sets, as run_dla does, and within this set only, as DLATK does
                "ours_significant": int((o.p_corrected < 0.05).sum()),
                "ours_significant_bh_within_set":
                    int((correct_p(o.p.to_numpy(), "bh") < 0.05).sum()),
                "dlatk_significant": sum(v[1] < 0.05 for v in t.values()),
            }
            report.append(f"  {outcome:<7} {name:<14} Spearman(ours, DLATK) = {rho:.4f} over "
                          f"{len(shared):,} shared features; N ours {int(o.n.iloc[0])}, "
                          f"DLATK {sorted(n_t)}")
    report.append(f"psyprofile run_dla: {ours['seconds']:.2f} s total in a fresh process "
                  f"(correlation step {summary['seconds']['correlate']:.2f} s, load "
                  f"{summary['seconds']['load']:.2f} s), peak {ours['peak_rss_mb']:.0f} MiB")
    report.append("DLATK --correlate: " + ", ".join(
        f"{k} {v['seconds']:.1f} s" for k, v in dlatk.items()) + f" (sum {dlatk_total:.1f} s)")
    report.append(f"speed-up: {figures['speedup_total']:.1f}x total, "
                  f"{figures['speedup_correlation_step']:.1f}x correlation step")
    for name, label in SETS.items():
        o = res[(res.outcome == "age") & (res.feature_set == name)]
        report.append(side_by_side(o, theirs[name]["age"], f"age, {label}: top {TOP} each way"))
    print("\n".join(report))
    print(f"wrote {write_results('dla', figures)}")


if __name__ == "__main__":
    main()
