"""Shared helpers for the benchmarks: run DLATK 1.3.15 next to psyprofile on the blog corpus.

Every bench is runnable as ``python3 bench/<name>.py`` from the repo root. Python then puts
``bench/`` (not the repo root) on ``sys.path``, so each bench starts with this idiom before
importing the helpers::

    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
    from bench._dlatk import make_dlatk_home, run_dlatk  # noqa: E402

and keeps its work under ``if __name__ == "__main__":`` (``measure`` starts spawned processes,
which re-import the bench module).

What lives here:

* ``ensure_dlatk_venv`` / ``make_dlatk_home`` / ``run_dlatk`` / ``read_dlatk_table``: DLATK in
  its own virtualenv (it is GPL-3.0 and pins old libraries; we only run it as a program), fed
  from a scratch ``$HOME/sqlite_data`` holding the same blog corpus psyprofile reads.
* ``measure``: wall time and peak memory of one psyprofile call in a fresh process.
* ``blog_messages`` / ``blog_users`` / ``dlatk_folds`` / ``replicate_corpus``: the shared data.
* ``write_results``: a bench's figures to ``bench/out/<name>.json``.

``python3 bench/_dlatk.py`` is a smoke check: it runs DLATK's 1gram extraction once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

SHARED = Path(os.environ.get("PSYPROFILE_SHARED_DATA", "/work/shared/data"))
BLOGS = SHARED / "blogs"
LEXICA_GZ = SHARED / "lexica" / "dlatk_lexica.db.gz"
BENCH_CACHE = Path.home() / ".cache" / "psyprofile-bench"
OUT_DIR = Path(__file__).resolve().parent / "out"

DLATK_PINS = ["dlatk==1.3.15", "wordcloud<=1.9.3", "matplotlib<=3.7.1", "langid<=1.1.6"]
_PREINSTALLED_VENV = Path("/root/.cache/dlatk-venv")
# Bump when the layout of the scratch database changes, so cached HOMEs are rebuilt.
_HOME_LAYOUT = 1


# ---------------------------------------------------------------------------------------------
# the shared blog data


def blog_messages() -> pd.DataFrame:
    """The 31,674 blog posts: message_id, user_id (int64), date, created_time, message (str)."""
    return pd.read_csv(
        BLOGS / "messages.csv.gz",
        dtype={"message_id": "int64", "user_id": "int64", "date": str, "created_time": str,
               "message": str},
        keep_default_na=False,  # a post reading "NA" is text, not a missing value
    )


def blog_users() -> pd.DataFrame:
    """One row per blogger (1,000): user_id, gender, age, occu, sign, is_* (nullable Int64)."""
    return pd.read_csv(BLOGS / "users.csv").convert_dtypes()


def dlatk_folds(kind: str) -> pd.DataFrame:
    """DLATK's own fold assignment (user_id, fold 1..10) for the 978 users with >= 500 tokens.

    ``kind`` is ``"regression"`` (folds used for age) or ``"classification"`` (for gender).
    """
    if kind not in ("regression", "classification"):
        raise ValueError(f"kind must be 'regression' or 'classification', not {kind!r}")
    return pd.read_csv(BLOGS / f"dlatk_folds_{kind}.csv", dtype="int64")


def replicate_corpus(n_posts: int, out: Path) -> Path:
    """Write a Parquet corpus of exactly ``n_posts`` posts built from copies of the blog corpus.

    Copy ``k`` (k = 0, 1, 2, ...) is the whole corpus in file order with ``user_id`` replaced by
    the string ``f"{k}_{user_id}"`` and ``message_id`` by ``f"{k}_{message_id}"`` (so every copy
    is a new set of users with the same posts); copies are appended until ``n_posts`` rows, the
    last one cut short. Columns: message_id, user_id, date, created_time, message (all strings).
    Written one copy at a time, so memory stays at one corpus whatever ``n_posts`` is. An
    existing ``out`` with the same row count is reused as is.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.exists() and pq.ParquetFile(out).metadata.num_rows == n_posts:
        return out
    base = blog_messages()
    base_ids = base["message_id"].astype(str)
    base_users = base["user_id"].astype(str)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    schema = pa.schema([(c, pa.string()) for c in base.columns])
    writer = pq.ParquetWriter(tmp, schema)
    left, k = n_posts, 0
    try:
        while left > 0:
            n = min(left, len(base))
            chunk = pd.DataFrame({
                "message_id": f"{k}_" + base_ids[:n],
                "user_id": f"{k}_" + base_users[:n],
                "date": base["date"][:n],
                "created_time": base["created_time"][:n],
                "message": base["message"][:n],
            })
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
                               .replace_schema_metadata(None))
            left -= n
            k += 1
    finally:
        writer.close()
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------------------------------------
# DLATK as a program


def ensure_dlatk_venv() -> Path:
    """The virtualenv holding DLATK 1.3.15 (``<venv>/bin/dlatkInterface.py``), created if missing.

    Reuses ``/root/.cache/dlatk-venv`` when it is already set up; otherwise builds
    ``~/.cache/psyprofile-bench/dlatk-venv`` with Python 3.11 and DLATK's pinned dependencies
    (a few minutes, from PyPI).
    """
    for venv in (_PREINSTALLED_VENV, BENCH_CACHE / "dlatk-venv"):
        if (venv / "bin" / "dlatkInterface.py").exists():
            return venv
    venv = BENCH_CACHE / "dlatk-venv"
    print(f"creating a DLATK 1.3.15 virtualenv in {venv} (once; a few minutes)", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *DLATK_PINS], check=True)
    return venv


def _home_key(with_folds: bool) -> str:
    inputs = [BLOGS / "messages.csv.gz", BLOGS / "users.csv", LEXICA_GZ]
    if with_folds:
        inputs += [BLOGS / "dlatk_folds_regression.csv", BLOGS / "dlatk_folds_classification.csv"]
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in inputs]
    blob = json.dumps([_HOME_LAYOUT, with_folds, stamp]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _build_tutorial_db(path: Path, with_folds: bool) -> None:
    """Write DLATK's tutorial database (msgs, blog_outcomes) as SQLite at ``path``."""
    msgs = blog_messages()
    users = blog_users()
    if with_folds:
        for kind, col in (("regression", "fold_reg"), ("classification", "fold_cls")):
            folds = dlatk_folds(kind).rename(columns={"fold": col})
            users = users.merge(folds, on="user_id", how="left")  # NULL for unlisted users
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE msgs (message_id INTEGER PRIMARY KEY, user_id INTEGER, "
                    "date TEXT, created_time TEXT, message TEXT)")
        con.executemany("INSERT INTO msgs VALUES (?, ?, ?, ?, ?)",
                        msgs.itertuples(index=False, name=None))
        # The same keys as the MySQL dump DLATK ships, so DLATK reads it as its authors intended.
        con.execute("CREATE INDEX msgs_user_id ON msgs (user_id)")
        con.execute("CREATE INDEX msgs_datedex ON msgs (created_time)")
        types = {c: "TEXT" if pd.api.types.is_string_dtype(users[c]) else "INTEGER"
                 for c in users.columns}
        cols = ", ".join(f"{c} {t}" for c, t in types.items())
        con.execute(f"CREATE TABLE blog_outcomes ({cols}, PRIMARY KEY (user_id))")
        rows = users.astype(object).where(users.notna(), None).itertuples(index=False, name=None)
        marks = ", ".join("?" * len(types))
        con.executemany(f"INSERT INTO blog_outcomes VALUES ({marks})", rows)
        con.commit()
    finally:
        con.close()


def _cached_template(with_folds: bool) -> Path:
    """A built ``sqlite_data`` folder in the bench cache, keyed by the inputs' size and mtime."""
    template = BENCH_CACHE / "dlatk-homes" / _home_key(with_folds) / "sqlite_data"
    if (template / "dla_tutorial.db").exists() and (template / "dlatk_lexica.db").exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=template.parent))
    _build_tutorial_db(staging / "dla_tutorial.db", with_folds)
    with gzip.open(LEXICA_GZ, "rb") as src, open(staging / "dlatk_lexica.db", "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    shutil.rmtree(template, ignore_errors=True)
    os.replace(staging, template)
    return template


def make_dlatk_home(workdir: Path, with_folds: bool = False, fresh: bool = False) -> Path:
    """A scratch ``$HOME`` for DLATK under ``workdir``, holding ``sqlite_data/dla_tutorial.db``
    (tables ``msgs`` and ``blog_outcomes``, plus ``fold_reg``/``fold_cls`` with ``with_folds``)
    and ``sqlite_data/dlatk_lexica.db``.

    The databases are built once into ``~/.cache/psyprofile-bench/dlatk-homes/<key>`` and
    copied from there. An existing HOME from the same inputs is returned unchanged, so the
    feature tables DLATK wrote into it in an earlier step (or run) are still there; pass
    ``fresh=True`` to start again from clean tables.
    """
    home = Path(workdir).resolve() / ("dlatk-home-folds" if with_folds else "dlatk-home")
    key = _home_key(with_folds)
    stamp = home / ".built-from"
    if not fresh and stamp.exists() and stamp.read_text() == key:
        return home
    template = _cached_template(with_folds)
    shutil.rmtree(home, ignore_errors=True)
    (home / "sqlite_data").mkdir(parents=True)
    for name in ("dla_tutorial.db", "dlatk_lexica.db"):
        shutil.copyfile(template / name, home / "sqlite_data" / name)
    stamp.write_text(key)
    return home


_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def run_dlatk(args: list[str], home: Path, timeout: float = 3600,
              cwd: Path | None = None) -> dict[str, Any]:
    """Run ``dlatkInterface.py -e sqlite -d dla_tutorial -t msgs -g user_id *args`` with
    ``HOME=home`` (working directory ``cwd``, default ``home``, where ``--csv`` files land).

    Returns ``{"seconds": wall time (s), "peak_rss_mb": peak resident memory (MiB),
    "stdout", "stderr", "returncode"}``. Raises ``RuntimeError`` with the tail of DLATK's
    output if it exits non-zero, and ``subprocess.TimeoutExpired`` after ``timeout`` seconds.
    """
    venv = ensure_dlatk_venv()
    cmd = [str(venv / "bin" / "python"), str(venv / "bin" / "dlatkInterface.py"),
           "-e", "sqlite", "-d", "dla_tutorial", "-t", "msgs", "-g", "user_id", *args]
    env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    with tempfile.NamedTemporaryFile(suffix=".time") as tf:
        if Path("/usr/bin/time").exists():
            wrapped = ["/usr/bin/time", "-v", "-o", tf.name, *cmd]
        else:  # a tiny parent that reports its child's peak via getrusage
            probe = ("import resource,subprocess,sys;r=subprocess.call(sys.argv[2:]);"
                     "open(sys.argv[1],'w').write('Maximum resident set size (kbytes): %d\\n'"
                     "%resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r)")
            wrapped = [sys.executable, "-c", probe, tf.name, *cmd]
        t0 = time.perf_counter()
        proc = subprocess.run(wrapped, env=env, cwd=str(cwd or home), capture_output=True,
                              text=True, errors="replace", timeout=timeout)
        seconds = time.perf_counter() - t0
        found = _MAXRSS.search(Path(tf.name).read_text())
    result = {
        "seconds": seconds,
        "peak_rss_mb": int(found.group(1)) / 1024 if found else float("nan"),
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "returncode": proc.returncode,
    }
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"DLATK failed (exit {proc.returncode}): {' '.join(args)}\n{tail}")
    return result


def read_dlatk_table(home: Path, table: str) -> pd.DataFrame:
    """A whole table of DLATK's database in ``home``, e.g. ``feat$1gram$msgs$user_id``."""
    con = sqlite3.connect(Path(home) / "sqlite_data" / "dla_tutorial.db")
    try:
        quoted = '"' + table.replace('"', '""') + '"'
        return pd.read_sql_query(f"SELECT * FROM {quoted}", con)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# psyprofile's side


def _timed_call(fn: Callable[..., Any], args: tuple) -> tuple[float, float, Any]:
    t0 = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t0
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result


def measure(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh spawned process: ``{"seconds", "peak_rss_mb", "result"}``.

    ``seconds`` is the wall time of the call itself (imports it triggers included, interpreter
    start-up excluded); ``peak_rss_mb`` is that process's peak resident memory in MiB, so each
    run is measured on its own (it includes a baseline of ~100 MiB: the interpreter plus the
    bench module and pandas, which the spawned process re-imports). ``fn`` must be a module-level function and ``args``/the result
    picklable.
    """
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        seconds, peak, result = pool.submit(_timed_call, fn, args).result()
    return {"seconds": seconds, "peak_rss_mb": peak, "result": result}


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write a bench's figures to ``bench/out/<name>.json`` (pretty, keys sorted)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str) + "\n")
    return path


if __name__ == "__main__":
    # A smoke check of the helpers: `python3 bench/_dlatk.py` runs DLATK's 1gram extraction.
    with tempfile.TemporaryDirectory() as scratch:
        run = run_dlatk(["--add_ngrams", "-n", "1"], make_dlatk_home(Path(scratch)))
        n = len(read_dlatk_table(make_dlatk_home(Path(scratch)), "feat$1gram$msgs$user_id"))
    print(f"DLATK --add_ngrams -n 1: {run['seconds']:.1f} s, peak {run['peak_rss_mb']:.0f} MiB, "
          f"{n:,} rows in feat$1gram$msgs$user_id")


DLATK_1GRAM = "feat$1gram$msgs$user_id"
DLATK_OCC = "feat$1gram$msgs$user_id$0_05"  # 1grams used by >= 5% of users with >= 500 words


def dlatk_feature_tables(home: Path) -> dict[str, str]:
    """DLATK's occurrence-filtered 1gram and fb2000 topic tables in ``home``, built if missing.

    Keys are psyprofile's names of the same sets (``1gram_occ0.05``, ``fb2000_cp``).
    """
    def tables() -> list[str]:
        con = sqlite3.connect(home / "sqlite_data" / "dla_tutorial.db")
        try:
            return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        finally:
            con.close()

    have = tables()
    if DLATK_1GRAM not in have:
        run_dlatk(["--add_ngrams", "-n", "1"], home)
    if DLATK_OCC not in have:
        run_dlatk(["-f", DLATK_1GRAM, "--feat_occ_filter", "--set_p_occ", "0.05",
                   "--group_freq_thresh", "500"], home)
    if not any("fb2000_cp" in t for t in have):
        run_dlatk(["--add_lex_table", "-l", "fb2000_cp", "--weighted_lexicon"], home)
    topic = [t for t in tables() if t.startswith("feat$cat_fb2000_cp")]
    return {"1gram_occ0.05": DLATK_OCC, "fb2000_cp": topic[0]}
