"""Session-wide checks: the suite leaves no process behind.

Every process the tests start (worker pools, servers, CLI subprocesses, and theirs) inherits
a marker in its environment. When the session ends, any process other than this one that
still carries the marker has outlived its test: the session fails and names it. Orphans are
found too (a killed server's workers are re-parented away from this process). This
process's own multiprocessing resource tracker is not counted: it lives as long as this
process and exits with it, unless a leaked worker holds it open, which is then named.
"""

from __future__ import annotations

import os
import time
import uuid

import psutil
import pytest

MARKER = "PSYPROFILE_TEST_SESSION"
_SESSION = uuid.uuid4().hex
os.environ[MARKER] = _SESSION  # set at import, before any test can start a process


def _marked() -> list[psutil.Process]:
    me = os.getpid()
    out = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(MARKER) != _SESSION:
                continue
            if proc.ppid() == me and "resource_tracker" in " ".join(proc.cmdline()):
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        out.append(proc)
    return out


def leftover_processes(wait: float = 10.0) -> list[str]:
    """Processes started by this session that are still alive after ``wait`` seconds (pools
    shut down asynchronously), as ``'pid: command line'``."""
    deadline = time.monotonic() + wait
    while True:
        left = _marked()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    shown = []
    for proc in left:
        try:
            shown.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
        except psutil.Error:
            continue
    return shown


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks
    left = leftover_processes()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "processes outlived the test session:\n  " + "\n  ".join(left)
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def study_at_schema(tmp_path):
    """``study_at_schema(version, name)``: a study under ``tmp_path`` whose database holds only
    migrations 1..``version``, as an older psyprofile left it. Returns the workspace and an open
    read-write connection for the test's own rows; close it before opening the study."""
    import duckdb

    from psyprofile.store.schema import MIGRATIONS
    from psyprofile.store.workspace import Workspace

    def make(version: int, name: str = "old"):
        ws = Workspace.create(tmp_path / name)
        ws.db_path.unlink()
        con = duckdb.connect(str(ws.db_path))
        for sql in MIGRATIONS[:version]:
            con.execute(sql)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])
        return ws, con

    return make


@pytest.fixture
def fresh_cache(tmp_path):
    """An empty psyprofile cache folder for a test's subprocesses (``PSYPROFILE_CACHE``) but for
    MiniLM's verified weights, linked to the usual cache's copy (fetched there once per machine):
    the ONNX files and the static table are built from scratch without a second ~84 MB download."""
    from psyprofile.features.minilm_weights import model_dir

    weights = model_dir()
    cache = tmp_path / "cache"
    (cache / "embeddings").mkdir(parents=True)
    (cache / "embeddings" / weights.name).symlink_to(weights, target_is_directory=True)
    return cache
