"""A real fresh venv with the core install only (``pip install -e .``, no extras): it imports
psyprofile, ingests, extracts 1grams and a lexicon and profiles without torch, dask, fastapi
or the report's libraries, and a command that needs an extra names it.

Slow (pip resolves and installs the core dependencies from the package index): run with
``-m slow``. ``tests/test_extras.py`` checks the same in seconds by blocking the extras'
modules in a child interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSTS = ROOT / "docs" / "data" / "posts.csv"
HEAVY = ("torch", "dask", "distributed", "fastapi", "uvicorn", "onnxruntime", "matplotlib",
         "jinja2", "wordcloud", "opendp", "sentence_transformers")


@pytest.mark.slow
def test_core_install_in_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py, cli = venv / "bin" / "python", venv / "bin" / "psyprofile"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", str(ROOT)], check=True,
                   capture_output=True, timeout=1200)
    found = subprocess.run(
        [str(py), "-c", "import importlib.util as u, sys; "
                        f"print(','.join(m for m in {HEAVY!r} if u.find_spec(m)))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert found == ""  # none of the extras' packages came with the core install

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=600)

    study = tmp_path / "study"
    assert run("init", str(study)).returncode == 0
    ingested = run("ingest", str(study), str(POSTS), "--quiet")
    assert ingested.returncode == 0, ingested.stderr
    assert "408 stored" in ingested.stdout
    feats = run("features", str(study), "--ngrams", "1", "--lexicon", "nrc_emot", "--quiet")
    assert feats.returncode == 0, feats.stderr
    assert "nrc_emot: 9 features, 34 groups" in feats.stdout
    prof = run("profile", str(study), "--out", str(tmp_path / "p.csv"), "--min-words", "50",
               "--quiet")
    assert prof.returncode == 0, prof.stderr
    assert (tmp_path / "p.codebook.csv").is_file()
    for args, extra in ((("features", str(study), "--embeddings", "minilm"), "embeddings"),
                        (("report", str(study), "--out", str(tmp_path / "r.html")), "report")):
        r = run(*args)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert f"pip install 'psyprofile[{extra}]'" in r.stderr + r.stdout
