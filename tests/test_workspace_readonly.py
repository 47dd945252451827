"""Reading a study while another process has it open: read-only opens, and the clear error
when a writer holds the study. Every holder is a real separate process, ended by each test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from psyprofile.errors import WorkspaceError
from psyprofile.io.ingest import ingest
from psyprofile.store.schema import SCHEMA_VERSION
from psyprofile.store.workspace import SchemaOutOfDate, Workspace

FIX = Path(__file__).parent / "fixtures" / "io"

# holds the study the way a notebook would, until its stdin closes
_HOLD = """
import sys
mode = sys.argv[2]
if mode == "workspace":  # a Workspace object kept in a variable, no connection open
    from psyprofile.store.workspace import Workspace
    held = Workspace.open(sys.argv[1])
else:
    import duckdb
    held = duckdb.connect(sys.argv[1], read_only=mode == "read")
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def study(tmp_path: Path) -> Path:
    ws = Workspace.create(tmp_path / "study")
    ingest(ws, [FIX / "posts.csv"], progress=False)
    return ws.path


@contextmanager
def held(study: Path, mode: str) -> Iterator[subprocess.Popen]:
    """A separate process holding ``study``: mode 'write' or 'read' (a DuckDB connection),
    or 'workspace' (an opened Workspace object)."""
    target = str(study / "study.duckdb") if mode != "workspace" else str(study)
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, target, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read()
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def psyprofile(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "psyprofile.cli.main", *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_info_while_a_writer_holds_the_study_names_its_pid_and_the_fix(study, tmp_path):
    with held(study, "write") as holder:
        res = psyprofile("info", study, cwd=tmp_path)
    assert res.returncode != 0
    err = res.stderr
    assert "Traceback" not in err + res.stdout
    assert f"another process (PID {holder.pid}, " in err
    assert "is writing to it" in err
    assert "Commands that only read" in err and "close its connection" in err
    assert "read_only=True" in err


def test_info_and_export_work_while_another_process_reads(study, tmp_path):
    with held(study, "read"):
        info = psyprofile("info", study, "--json", cwd=tmp_path)
        out = tmp_path / "posts.csv"
        export = psyprofile("export", study, "posts", "--out", out, cwd=tmp_path)
        # a command that writes is refused, clearly, while the reader holds the study
        write = psyprofile("outcomes", study, FIX / "posts.csv", "--user-col", "author",
                           cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert '"posts": 20' in info.stdout
    assert export.returncode == 0, export.stderr
    assert "wrote 20 posts rows" in export.stdout and len(out.read_text().splitlines()) == 21
    assert write.returncode != 0 and "Traceback" not in write.stderr
    assert "PID" in write.stderr and "writes needs the study to itself" in write.stderr


def test_a_workspace_object_held_by_another_process_blocks_nobody(study, tmp_path):
    # connections last one operation: a notebook's `ws` variable does not lock the study
    with held(study, "workspace"):
        res = psyprofile("ingest", study, FIX / "posts.tsv", "--quiet", cwd=tmp_path)
        info = psyprofile("info", study, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert info.returncode == 0, info.stderr


def test_read_only_open_writes_nothing_and_leaves_interrupted_runs_to_a_writer(study):
    with Workspace.open(study).connect() as con:
        con.execute("INSERT INTO ingest_runs (run_id, started_at, status) VALUES (9, now(), 'running')")
        con.execute("UPDATE messages SET run_id = 9 WHERE message_id IN "
                    "(SELECT message_id FROM messages LIMIT 3)")
    before = (study / "study.duckdb").read_bytes()
    ws = Workspace.open(study, read_only=True)
    assert ws.read_only
    assert any("ingest run 9 was interrupted and is not rolled back yet" in n for n in ws.notices)
    with ws.connect() as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(20,)]
    # read-only even when not asked for
    with pytest.raises(WorkspaceError, match="this step writes to the study, but it was "
                                             "opened read-only"), ws.connect() as con:
        con.execute("DELETE FROM messages")
    assert (study / "study.duckdb").read_bytes() == before
    # the next read-write open rolls the run back
    rw = Workspace.open(study)
    assert any("ingest run 9 was interrupted" in n and "rolled back its 3 posts" in n
               for n in rw.notices)


def test_read_only_open_of_an_old_study_says_to_open_it_read_write_once(tmp_path, study_at_schema):
    ws, con = study_at_schema(2)
    con.close()
    with pytest.raises(SchemaOutOfDate, match=rf"schema 2 and this psyprofile needs "
                                              rf"{SCHEMA_VERSION}.*Open it read-write once"):
        Workspace.open(ws.path, read_only=True)
    # a read-only command upgrades it once (as every command did), then reads
    res = psyprofile("info", ws.path, "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert Workspace.open(ws.path, read_only=True).read_only


def test_a_connection_this_process_left_open_is_named(study):
    ws = Workspace.open(study)
    with ws.connect(), pytest.raises(WorkspaceError, match="this process already has it open"):
        Workspace.open(study, read_only=True)
