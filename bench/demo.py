"""Wall time of ``psyprofile demo``, per step and in all, against the 3-minute goal.

Runs ``psyprofile demo DIR --force`` in a fresh process (as a user on a fresh clone would,
once the corpus is in the download cache: set-up is not timed), in a temporary folder, reads
the elapsed time each step header prints, and writes ``bench/out/demo.json``. There is no
DLATK counterpart (DLATK has no demo); the reference is the goal of issue 18, 180 s.

    nice -n 10 python3 bench/demo.py
    python3 bench/demo.py --keep /tmp/demo   # keep the study (and its report) there
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # repo root, for `bench._dlatk`
from bench._dlatk import write_results  # noqa: E402

GOAL_S = 180.0
_HEADER = re.compile(r"^== step (\d+): (.*?)  \[(\d+) s\]$")
_DONE = re.compile(r"^== demo finished in (\d+) s$")
_SKIPPED = re.compile(r"^skipped( \S+)?: ")  # a step (or the demo model) the demo left out


def step_seconds(lines: list[str], total: float) -> list[dict[str, object]]:
    """Each step's number, title and seconds, from the headers' times since the start (the
    last step ends at ``total``)."""
    heads = [(int(m[1]), m[2], float(m[3])) for m in map(_HEADER.match, lines) if m]
    ends = [t for _, _, t in heads[1:]] + [total]
    return [{"step": n, "title": title, "seconds": round(end - t, 1)}
            for (n, title, t), end in zip(heads, ends, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, default=None,
                    help="build the study in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()

    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="psyprofile-bench-demo-"))
    study = args.keep or tmp / "demo"
    exe = Path(sys.executable).with_name("psyprofile")
    cmd = [str(exe) if exe.exists() else "psyprofile", "demo", str(study), "--force"]
    try:
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                                                                       "PYTHONUNBUFFERED": "1"})
        wall = time.perf_counter() - t0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    lines = run.stdout.splitlines()
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
        raise SystemExit(f"psyprofile demo failed (exit {run.returncode})")
    done = [float(m[1]) for m in map(_DONE.match, lines) if m]
    total = done[-1] if done else wall
    steps = step_seconds(lines, total)
    skipped = [ln.strip() for ln in lines if _SKIPPED.match(ln.strip())]
    res = {
        "command": "python3 bench/demo.py", "demo_command": " ".join(cmd[1:2] + ["DIR", "--force"]),
        "demo_s": total, "process_wall_s": round(wall, 1), "goal_s": GOAL_S,
        "demo_vs_goal": round(total / GOAL_S, 2), "steps": steps, "skipped": skipped,
        "cpus": os.cpu_count(),
    }
    for s in steps:
        print(f"step {s['step']:>2}  {s['seconds']:>7.1f} s  {s['title']}")
    print(f"demo {total:.0f} s (process {wall:.0f} s): {total / GOAL_S:.2f} x the {GOAL_S:.0f} s goal")
    if skipped:
        print("skipped steps:\n  " + "\n  ".join(skipped))
    print(f"wrote {write_results('demo', res)}")


if __name__ == "__main__":
    main()
