"""The service's own small database: API keys and jobs, in ``SERVED/api/service.sqlite``.

SQLite rather than the study's DuckDB file: DuckDB lets one process write at a time, and
the service must not lock the study while the CLI works on it (nor be locked out by it).
SQLite in WAL mode lets ``psyprofile keys create`` run while a server is up. Its tables and
their migrations are in :mod:`psyprofile.api.migrations`.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psyprofile.api.migrations import migrate

API_DIR = "api"
DB_FILE = "service.sqlite"
_READY: set[Path] = set()


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def db_path(served: Path) -> Path:
    """Where the service database of the served folder ``served`` lives."""
    return Path(served) / API_DIR / DB_FILE


@contextmanager
def connect(served: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the service database (created on first use); commits on success."""
    path = db_path(served)
    # Queued jobs hold people's posts: the folder is for the server's user only.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Created private (SQLite gives its -wal and -shm files the same mode).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if path not in _READY:  # once per process: each request opens its own connection
            con.execute("PRAGMA journal_mode=WAL")
            for f in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
                if f.exists() and f.stat().st_mode & 0o077:
                    f.chmod(0o600)  # made by an older psyprofile, or with a loose umask
            migrate(con, path)
            _READY.add(path)
        con.execute("BEGIN IMMEDIATE")
        yield con
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
