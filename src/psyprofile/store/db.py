"""Small helpers over DuckDB connections."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of ``sql`` (or None), reading the whole result.

    DuckDB 2 keeps a half-read result open on the connection and refuses other work until
    it is finished, so ``fetchone()`` must not be left dangling.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The first value of the first row of ``sql`` (or None)."""
    row = one(con, sql, params)
    return row[0] if row else None


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the workspace holds a table (or view) called ``name``."""
    return bool(scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                       [name]))


def quote_ident(name: str) -> str:
    """``name`` as one SQL identifier, safe whatever characters it holds.

    Column and table names come from CSV headers and users' options, so they are never
    pasted into SQL as they are: DuckDB reads ``"a""b"`` as the identifier ``a"b``.
    A NUL byte cannot be part of any identifier and is refused.
    """
    if "\x00" in name:
        raise ValueError("an identifier cannot contain a NUL byte")
    return '"' + name.replace('"', '""') + '"'


def set_progress_bar(con: duckdb.DuckDBPyConnection, on: bool) -> None:
    """Switch DuckDB's own progress bar (drawn for queries that take over 2 s) on or off.

    In Jupyter DuckDB refuses every change of this setting unless ipywidgets is installed
    (the bar is off there already), so that refusal leaves it as it is.
    """
    try:
        con.execute("SET enable_progress_bar = ?", [on])
    except duckdb.InvalidInputException as exc:
        if "ipywidgets" not in str(exc):
            raise


def connect_private(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file ``path``; a file it creates (and its write-ahead log)
    is readable and writable by its owner only (0600).

    For every database that holds study data (the workspace's ``study.duckdb``, the API's
    job store). DuckDB creates files with the process umask (often 0644), so the umask is
    narrowed while it does; an existing file keeps the mode it has.
    """
    path = Path(path)
    if path.exists() or read_only:
        return duckdb.connect(str(path), read_only=read_only)
    old = os.umask(0o077)
    try:
        con = duckdb.connect(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return con
