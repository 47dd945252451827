"""docs/python.md runs as written: every ```python block, in order, in one namespace; and
docs/python.ipynb is that guide as a notebook, run by nbclient.

The blocks run in a temporary folder holding a copy of ``docs/data``, with this Python's
``psyprofile`` command first on PATH (the notebook section runs it beside the notebook).
Profiles need DLATK's lexica, fetched once into psyprofile's cache (see test_tutorial.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDE = DOCS / "python.md"
_spec = importlib.util.spec_from_file_location("make_notebook", ROOT / "scripts" / "make_notebook.py")
make_notebook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_notebook)


def python_blocks(markdown: str) -> list[str]:
    """The ```python blocks of ``markdown`` in order (```text and others are left alone)."""
    return [text for kind, text in make_notebook.split_markdown(markdown) if kind == "code"]


def test_markdown_splits_into_cells_in_order():
    md = ("# T\n\n```python\na = 1\n```\n```text\nno\n```\n```python\nb = a\n\n```\n"
          "```python\nc = b\n```\nend\n")
    assert make_notebook.split_markdown(md) == [
        ("markdown", "# T"), ("code", "a = 1"), ("markdown", "```text\nno\n```"),
        ("code", "b = a"), ("code", "c = b"), ("markdown", "end")]


def test_the_notebook_is_the_guide():
    """docs/python.ipynb was made from docs/python.md as it is (scripts/make_notebook.py)."""
    nb = json.loads((DOCS / "python.ipynb").read_text())
    cells = [("code" if c["cell_type"] == "code" else "markdown", "".join(c["source"]))
             for c in nb["cells"]]
    assert cells == make_notebook.split_markdown(GUIDE.read_text()), (
        "docs/python.md changed: run `python scripts/make_notebook.py`")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "the notebook is stored run"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]


def test_guide_uses_the_public_api_only():
    code = "\n".join(python_blocks(GUIDE.read_text()))
    assert "import psyprofile as pp" in code
    assert not re.search(r"from psyprofile\.|import psyprofile\.", code)


@pytest.fixture
def in_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(DOCS / "data", tmp_path / "docs" / "data")
    monkeypatch.chdir(tmp_path)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "psyprofile").exists(), "install psyprofile (pip install -e .) first"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return tmp_path


def test_guide_runs_as_written(in_workdir):
    namespace: dict = {"__name__": "__guide__"}
    out = io.StringIO()
    for i, block in enumerate(python_blocks(GUIDE.read_text()), start=1):
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(block, f"{GUIDE.name} block {i}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"docs/python.md block {i} failed:\n{block}") from exc
    printed = out.getvalue()
    ns = namespace
    # what the guide tells the reader they will get
    assert "408 rows read, 408 stored" in printed
    assert "34 users loaded" in printed
    assert ns["words"].shape[0] == 34 and list(ns["words"].columns[:2]) == ["user_id", "words"]
    assert ns["profiled"].scored == 34
    table = ns["profile_table"]
    assert table.shape[0] == 34 and {"openness", "extraversion", "age"} <= set(table.columns)
    groups = ns["groups"]
    age = groups[(groups["score"] == "age") & groups["period"].isna()].set_index("grp")
    assert age.loc["student", "n_users"] >= 10 and not age.loc["student", "suppressed"]
    assert age.loc["artist", "suppressed"] and age.loc[["artist"], "mean"].isna().all()
    assert len(ns["comparisons"]) > 0
    # the notebook section: a reader beside the notebook works, a held writer is refused
    assert ns["beside"].returncode == 0, ns["beside"].stderr
    assert "posts 408" in ns["beside"].stdout
    assert ns["refused"].returncode != 0
    assert "PID" in ns["refused"].stderr and "Traceback" not in ns["refused"].stderr
    assert ns["refused"].stderr.startswith("error: ")


@pytest.mark.slow
def test_the_notebook_runs_in_a_kernel():
    """The same guide in a real Jupyter kernel (about 40 s): DuckDB and tqdm behave
    differently there (DuckDB refuses progress-bar settings without ipywidgets)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = make_notebook.notebook(GUIDE.read_text())
    make_notebook.run(nb)
    refused = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if "refused" in c.source)
    assert "PID" in refused and "cannot read the study now" in refused
