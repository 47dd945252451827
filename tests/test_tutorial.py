"""docs/tutorial.md runs as written: every ```bash block, in order, on the sample in docs/data.

Blocks preceded by ``<!-- not run -->`` (installation) are skipped. The commands run in a
temporary folder holding a copy of ``docs/data`` and with ``psyprofile`` meaning this Python's
psyprofile. The DLATK lexica the profile needs come from DLATK's sdist, downloaded with pip
once into psyprofile's usual cache (``$PSYPROFILE_CACHE`` or the user cache folder) and reused
by later runs and other tests: on a fresh machine the first run takes 1-2 minutes longer
(35 MB; measured 91 s for the download on this busy machine). The modules of the extras the
tutorial's install line leaves out are made unimportable for its commands, so the line
installs what the commands need.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_extras import blocking
from test_fresh_install import installed_extras

from psyprofile.extras import MODULES

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIAL = DOCS / "tutorial.md"
SKIP_MARK = "<!-- not run -->"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def bash_blocks(markdown: str) -> list[str]:
    """The ```bash blocks of ``markdown`` in order, without those marked :data:`SKIP_MARK`
    on the last non-blank line before them."""
    blocks = []
    for m in _BLOCK.finditer(markdown):
        before = markdown[:m.start()].rstrip().splitlines()
        if before and before[-1].strip() == SKIP_MARK:
            continue
        blocks.append(m.group(1))
    return blocks


def test_bash_blocks_skip_only_marked_ones():
    md = ("<!-- not run -->\n```bash\npip install x\n```\ntext\n```bash\necho 1\n```\n"
          "```python\nprint(2)\n```\n<!-- not run -->\n\n```bash\nrm -rf /\n```\n")
    assert bash_blocks(md) == ["echo 1\n"]


def test_tutorial_installs_only_in_skipped_blocks():
    blocks = bash_blocks(TUTORIAL.read_text())
    assert len(blocks) >= 8
    assert not any("pip install" in b for b in blocks)


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder with docs/data and an environment whose ``psyprofile`` is this Python's."""
    shutil.copytree(DOCS / "data", tmp_path / "docs" / "data")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # the extras the reader did not install are missing here too
    left_out = set(MODULES) - installed_extras(TUTORIAL.read_text())
    main = bin_dir / "psyprofile_main.py"
    main.write_text(blocking(tuple(m for x in sorted(left_out) for m in MODULES[x]))
                    + "from psyprofile.cli.main import cli\n"
                      "sys.exit(cli.main(sys.argv[1:], prog_name='psyprofile'))\n")
    shim = bin_dir / "psyprofile"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{main}" "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONUNBUFFERED": "1"}
    return tmp_path, env


def test_tutorial_commands_run(workdir):
    cwd, env = workdir
    outputs = []
    for i, block in enumerate(bash_blocks(TUTORIAL.read_text()), start=1):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (
            f"tutorial block {i} failed (exit {proc.returncode}):\n{block}\n--- stdout\n"
            f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
        outputs.append(proc.stdout)
    out = "\n".join(outputs)
    # what the tutorial tells the reader they will see
    assert "408 rows read, 408 stored" in out
    assert "profiled 34 users" in out
    assert "suppressed (<10)" in out
    # section 7, data donation
    assert "(facebook): 25 rows read, 25 stored" in out
    assert "repaired Meta's mis-encoded text" in out
    assert "profiled 1 users" in out
    assert "posts 75   users 3" in out
    assert "skipped 1 forwarded" in out
    assert "skipped 1 deleted text" in out
    assert "not computed yet: Models used; Privacy budget" in out
    for name in ("report.html", "reddit-report.html"):
        html = (cwd / name).read_text()
        assert "<h2>Group comparisons</h2>" in html and "<img " in html
    assert "Total ε spent over all releases: <strong>10.000</strong>" in (
        cwd / "reddit-report.html").read_text()
    assert any((cwd / "clouds").glob("*.png"))
    assert (cwd / "groups.csv").read_text().startswith("group,score,n_users")
