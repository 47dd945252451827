"""The service database's schema is versioned: fresh files, files from before the versions
were counted, and files from a newer psyprofile."""

from __future__ import annotations

import sqlite3

import pytest

from psyprofile.api import store
from psyprofile.api.migrations import MIGRATIONS, SCHEMA_VERSION
from psyprofile.errors import WorkspaceError

# The tables as the build before api.migrations made them (user_version left at 0).
UNVERSIONED = MIGRATIONS[0]


def version(path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("PRAGMA user_version").fetchone()[0]


def test_fresh_database_is_at_the_latest_version(tmp_path):
    with store.connect(tmp_path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"api_keys", "jobs", "job_users"} <= tables
    assert version(store.db_path(tmp_path)) == SCHEMA_VERSION


def test_unversioned_database_keeps_its_rows_and_is_versioned(tmp_path):
    path = store.db_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    con = sqlite3.connect(path)
    con.executescript(UNVERSIONED)
    con.execute("INSERT INTO api_keys VALUES ('k1', 'lab', 'abc', '2026-01-01', NULL)")
    con.commit()
    con.close()
    path.chmod(0o600)
    with store.connect(tmp_path) as con:
        assert con.execute("SELECT key_id, name FROM api_keys").fetchall() == [("k1", "lab")]
    assert version(path) == SCHEMA_VERSION


def test_database_from_a_newer_psyprofile_is_refused(tmp_path):
    path = store.db_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    path.chmod(0o600)
    with pytest.raises(WorkspaceError, match="newer psyprofile.*Upgrade"), store.connect(tmp_path):
        pass
    assert version(path) == SCHEMA_VERSION + 1
