"""Make docs/python.ipynb from docs/python.md and run it, so the notebook holds its outputs.

    python scripts/make_notebook.py

docs/python.md is the one source: its ```python blocks become code cells, everything else
markdown cells. The notebook is run with nbclient (the ``test`` extra) in a temporary folder
holding a copy of docs/data, with this Python's ``psyprofile`` first on PATH, as
tests/test_python_docs.py runs the guide.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDE = DOCS / "python.md"
NOTEBOOK = DOCS / "python.ipynb"
_PYTHON = re.compile(r"^```python\n(.*?)^```\n?", re.S | re.M)


def split_markdown(markdown: str) -> list[tuple[str, str]]:
    """``markdown`` as cells in order: ("code", a ```python block's code) or ("markdown",
    the text between them, stripped); empty text between two blocks gives no cell."""
    cells: list[tuple[str, str]] = []
    at = 0
    for m in _PYTHON.finditer(markdown):
        if text := markdown[at:m.start()].strip():
            cells.append(("markdown", text))
        cells.append(("code", m.group(1).rstrip("\n")))
        at = m.end()
    if text := markdown[at:].strip():
        cells.append(("markdown", text))
    return cells


def notebook(markdown: str):
    """An nbformat v4 notebook of ``markdown`` (not run), for the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(text) if kind == "code"
                else nbformat.v4.new_markdown_cell(text) for kind, text in split_markdown(markdown)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def run(nb, timeout: int = 900) -> None:
    """Run ``nb`` in place in a temporary folder holding a copy of docs/data."""
    from nbclient import NotebookClient

    bin_dir = str(Path(sys.executable).parent)
    old_path = os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(DOCS / "data", Path(tmp) / "docs" / "data")
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old_path}"  # the kernel inherits it
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": tmp}}).execute()
        finally:
            os.environ["PATH"] = old_path


def main() -> None:
    import nbformat

    nb = notebook(GUIDE.read_text())
    run(nb)
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK} ({len(nb.cells)} cells, run)")


if __name__ == "__main__":
    main()
