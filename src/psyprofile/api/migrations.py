"""The schema of the service's own SQLite database (``api.store``), as ordered migrations.

Not part of the study's schema (``store.schema``): the file belongs to a served folder, not
to a study, and holds API keys and queued jobs. Like the study, the database records how many
migrations it has seen (SQLite's ``user_version``), applies the ones it has not, and refuses
a file written by a newer psyprofile. Append a migration to change a table; never edit one
that has shipped.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from psyprofile.errors import WorkspaceError

MIGRATIONS: list[str] = [
    # 1: API keys (only their hash), jobs and each job's users. IF NOT EXISTS: service files
    # made before migrations were counted have these tables already (user_version 0).
    """
    CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL, revoked_at TEXT);
    CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, status TEXT NOT NULL,
        created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
        n_users INTEGER NOT NULL, n_done INTEGER NOT NULL DEFAULT 0,
        rejected_rows TEXT NOT NULL DEFAULT '{}', error TEXT);
    CREATE TABLE IF NOT EXISTS job_users (
        job_id TEXT NOT NULL, idx INTEGER NOT NULL, user_id TEXT NOT NULL,
        texts TEXT, timestamps TEXT, result TEXT, error TEXT,
        PRIMARY KEY (job_id, idx));
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(con: sqlite3.Connection, path: Path) -> None:
    """Bring the service database ``con`` (the file ``path``, autocommit mode) to
    :data:`SCHEMA_VERSION` in one transaction; raises :class:`WorkspaceError` for a file
    from a newer psyprofile."""
    # IMMEDIATE: the version is read under the write lock, so of two processes starting at
    # once (a server and `keys create`) one migrates and the other then finds nothing to do.
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{path}: this service database was written by a newer psyprofile (schema "
                f"{version}, this version knows {SCHEMA_VERSION}). Upgrade psyprofile to serve it.")
        for migration in MIGRATIONS[version:]:
            for statement in migration.split(";"):  # our own DDL: no ';' inside a statement
                if statement.strip():
                    con.execute(statement)
        # PRAGMA takes no parameters; the version is our own int
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
