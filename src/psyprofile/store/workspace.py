"""The study workspace: a folder with one DuckDB file, a TOML config and the study key.

Layout of ``STUDY_DIR``::

    study.duckdb       every table of the study (posts, features, models' outputs, logs)
    psyprofile.toml    settings a researcher may edit (minimum group size, minimum words)
    secret.key         the pseudonymisation key, mode 0600; keep it out of any release

A new study folder is mode 0700 and ``study.duckdb`` 0600. The database stores a fingerprint
of the key (``meta.key_fingerprint``, a keyed hash that does not reveal the key): a
``secret.key`` that does not match it is refused, because a different key would give every
user a second pseudonym. Opening a study also rolls back ingest runs that a killed process
left unfinished (see :func:`recover_runs`), so a run is stored whole or not at all.

DuckDB lets one process open the file read-write, or any number of processes open it
read-only, never both. ``Workspace.open(path, read_only=True)`` writes nothing (no
migration, no roll-back), so commands that only read can run beside each other and beside a
notebook that reads; every connection lasts one operation, so holding a :class:`Workspace`
object blocks nobody.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import stat
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from psyprofile import __version__
from psyprofile.errors import WorkspaceError, printable
from psyprofile.privacy.pseudonym import Pseudonymizer, new_key, read_key, write_key
from psyprofile.quiet import progress_silenced
from psyprofile.store.db import (
    connect_private,
    one,
    quote_ident,
    scalar,
    set_progress_bar,
    table_exists,
)
from psyprofile.store.schema import MIGRATIONS, SCHEMA_VERSION

DB_NAME = "study.duckdb"
CONFIG_NAME = "psyprofile.toml"
KEY_NAME = "secret.key"

DEFAULT_CONFIG: dict[str, Any] = {
    "min_group_size": 10,
    "min_words": 500,
    # DuckDB caches pages up to its limit (80% of RAM by default), so without a cap a
    # long ingest grows with the database instead of staying bounded; it spills to disk.
    "memory_limit": "2GB",
}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_fingerprint(key: bytes) -> str:
    """A 16-hex-digit keyed fingerprint of a study key: equal keys give equal fingerprints,
    and the fingerprint does not help to recover the key."""
    return hmac.new(key, b"psyprofile key fingerprint", hashlib.sha256).hexdigest()[:16]


# Ingest runs this process is writing now, as (database path, run_id): opening the study
# from another thread must not roll them back. Another process cannot be writing a run while
# this one opens the database read-write, since DuckDB locks the file for one writer process.
_ACTIVE_RUNS: set[tuple[str, int]] = set()
_ACTIVE_LOCK = threading.Lock()


class SchemaOutOfDate(WorkspaceError):
    """A study written by an older psyprofile, opened read-only: it needs one read-write
    open (which migrates it) before it can be read."""


# DuckDB names the process that holds the file's lock: 'Conflicting lock is held in
# /usr/bin/python3 (PID 4242)'.
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def _lock_error(db_path: Path, exc: duckdb.Error, read_only: bool) -> WorkspaceError:
    """The error for a study database another process (or this one) holds open: who holds
    it, what works meanwhile, and the fix."""
    text = str(exc)
    holder = _LOCK_HOLDER.search(text)
    if holder:
        who = (f"another process (PID {holder.group(2)}, {printable(holder.group(1), 200)}) "
               "holds it open")
    elif isinstance(exc, duckdb.ConnectionException):
        who = ("this process already has it open in the other mode (a connection left open, "
               "e.g. in a notebook cell)")
    else:
        return WorkspaceError(f"{db_path}: cannot open the study database ({printable(text, 300)}).")
    readers = ("Commands that only read (info, export, report, models list/show) run beside "
               "each other, not beside a writer.")
    notebook = ("if it is a notebook, close its connection (leave the `with ws.connect()` "
                "block, or restart the kernel)")
    if read_only:
        return WorkspaceError(
            f"{db_path}: cannot read the study now: {who} and is writing to it. {readers} "
            f"Fix: wait for that command to finish; {notebook}, or open the study there with "
            "`Workspace.open(path, read_only=True)`."
        )
    return WorkspaceError(
        f"{db_path}: cannot write to the study now: {who} (reading or writing: a command that "
        f"writes needs the study to itself). {readers} Fix: wait for that command to finish; "
        f"{notebook}."
    )


@dataclass
class Workspace:
    """An opened study workspace. Create with :meth:`create`, open with :meth:`open`.

    The object holds no connection: each operation opens its own (:meth:`connect`) and
    closes it, so keeping a ``Workspace`` in a notebook does not lock the study.
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    # what opening the study had to say (runs rolled back, a key readable by others)
    notices: list[str] = field(default_factory=list)
    _fingerprint: str | None = field(default=None, repr=False)
    # opened with read_only=True: every connection is read-only and nothing is written
    read_only: bool = False

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def key_path(self) -> Path:
        return self.path / KEY_NAME

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @classmethod
    def create(cls, path: str | Path, name: str | None = None) -> Workspace:
        """Create a new study in ``path`` (made if missing, must not hold a study already)."""
        path = Path(path)
        for existing in (DB_NAME, CONFIG_NAME, KEY_NAME):
            if (path / existing).exists():
                raise WorkspaceError(
                    f"{path}: a study already exists here ({existing} found); refusing to "
                    "overwrite it. Choose a new folder, or delete the old study on purpose."
                )
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = {
            "name": name or path.resolve().name,
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "psyprofile_version": __version__,
            **DEFAULT_CONFIG,
        }
        lines = ["# psyprofile study settings; edit the values, keep the keys.\n[study]\n"]
        lines += [f"{k} = {_toml_value(v)}\n" for k, v in config.items()]
        (path / CONFIG_NAME).write_text("".join(lines))
        key = new_key()
        write_key(path / KEY_NAME, key)
        ws = cls(path, config)
        with ws.connect() as con:
            _migrate(con, ws.db_path)
            ws._fingerprint = key_fingerprint(key)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('key_fingerprint', ?)", [ws._fingerprint])
        return ws

    @classmethod
    def open(cls, path: str | Path, read_only: bool = False) -> Workspace:
        """Open an existing study; raises :class:`WorkspaceError` with a fix if it is not one.

        ``read_only=True`` writes nothing: no migration (a study from an older psyprofile
        raises :class:`SchemaOutOfDate`: open it read-write once), no roll-back of
        interrupted ingest runs (each is listed in :attr:`notices` instead), and every
        :meth:`connect` is read-only, so it works while other processes read the study too.
        """
        path = Path(path)
        if not (path / DB_NAME).exists():
            raise WorkspaceError(
                f"{path}: no study here ({DB_NAME} not found). Create one with "
                f"`psyprofile init {path}`."
            )
        try:
            config = tomllib.loads((path / CONFIG_NAME).read_text()).get("study", {})
        except FileNotFoundError:
            config = {}
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{path / CONFIG_NAME}: not valid TOML ({exc}); fix or restore it.") from None
        ws = cls(path, {**DEFAULT_CONFIG, **config}, read_only=read_only)
        with ws.connect() as con:
            if read_only:
                _check_schema(con, ws.db_path)
                ws._check_key(con)
                ws.notices += unfinished_runs(con)
            else:
                _migrate(con, ws.db_path)
                ws._check_key(con)
                ws.notices += recover_runs(con, ws.db_path)
        return ws

    def _check_key(self, con: duckdb.DuckDBPyConnection) -> None:
        """Compare ``secret.key`` with the fingerprint stored in the study (and store one in a
        study from before fingerprints); note a key file others may read."""
        if not self.key_path.exists():
            return  # commands that need the key say so when they read it
        mode = stat.S_IMODE(self.key_path.stat().st_mode)
        if mode & 0o077:
            self.notices.append(
                f"{self.key_path} can be read by other users (mode {mode:04o}); anyone with it "
                f"can re-identify pseudonymous ids. Run `chmod 600 {self.key_path}`."
            )
        stored = scalar(con, "SELECT value FROM meta WHERE key = 'key_fingerprint'")
        if stored is None:
            stored = key_fingerprint(read_key(self.key_path))
            if not self.read_only:  # stored on the next read-write open
                con.execute("INSERT INTO meta VALUES ('key_fingerprint', ?)", [stored])
        self._fingerprint = stored
        self.key()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection to the study database, closed on exit; read-only if asked or
        if the study was opened with ``read_only=True``.

        Hold it for one operation only: while it is open no other process can write the
        study (and, if it is read-write, none can read it either).
        """
        read_only = read_only or self.read_only
        try:
            con = connect_private(self.db_path, read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            raise _lock_error(self.db_path, exc, read_only) from None
        try:
            limit = str(self.config.get("memory_limit", DEFAULT_CONFIG["memory_limit"]))
            try:
                con.execute("SET memory_limit = ?", [limit])
            except duckdb.Error:
                raise WorkspaceError(
                    f"{self.config_path}: memory_limit = {printable(limit)} is not a size DuckDB "
                    "understands; give one like \"2GB\" or \"512MB\"."
                ) from None
            if progress_silenced():
                set_progress_bar(con, False)
            try:
                yield con
            except duckdb.InvalidInputException as exc:
                if not (self.read_only and "read-only mode" in str(exc)):
                    raise
                raise WorkspaceError(
                    f"{self.path}: this step writes to the study, but it was opened read-only. "
                    "Open it read-write (`Workspace.open(path)`) when no other process has it open."
                ) from None
        finally:
            con.close()

    def key(self) -> bytes:
        """The study key from ``secret.key``; refused if it is not the key the study was
        built with."""
        key = read_key(self.key_path)
        if self._fingerprint is not None and key_fingerprint(key) != self._fingerprint:
            raise WorkspaceError(
                f"{self.key_path} is not the key this study was built with (its fingerprint "
                f"differs from the one stored in {DB_NAME}). A different key would give every "
                "user a new pseudonym and split them in two; restore the original secret.key "
                "from your backup."
            )
        return key

    @contextmanager
    def active_run(self, run_id: int) -> Iterator[None]:
        """Mark ingest run ``run_id`` as being written by this process (so opening the study
        meanwhile does not roll it back), for the duration of the block."""
        entry = (str(self.db_path.resolve()), run_id)
        with _ACTIVE_LOCK:
            _ACTIVE_RUNS.add(entry)
        try:
            yield
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE_RUNS.discard(entry)

    def pseudonymizer(self, namespace: str = "user") -> Pseudonymizer:
        """The keyed hash of this study for ``namespace`` ('user' or 'message')."""
        return Pseudonymizer(self.key(), namespace)

    def min_group_size(self) -> int:
        return int(self.config["min_group_size"])


def delete_run_rows(con: duckdb.DuckDBPyConnection, run_id: int) -> int:
    """Remove what ingest run ``run_id`` stored (posts, raw ids no other run stored, log rows),
    inside the caller's transaction; returns the number of posts removed."""
    n = scalar(con, "SELECT count(*) FROM messages WHERE run_id = ?", [run_id])
    con.execute(
        "DELETE FROM raw_ids WHERE user_id IN (SELECT user_id FROM messages WHERE run_id = ?) "
        "AND user_id NOT IN (SELECT user_id FROM messages WHERE run_id <> ?)", [run_id, run_id])
    con.execute("DELETE FROM messages WHERE run_id = ?", [run_id])
    for table in ("ingest_log", "ingest_rejects", "ingest_notes", "ingest_files"):
        con.execute(f"DELETE FROM {quote_ident(table)} WHERE run_id = ?", [run_id])
    return int(n)


def recover_runs(con: duckdb.DuckDBPyConnection, db_path: Path) -> list[str]:
    """Roll back every ingest run left ``running`` by a process that died (kill -9, a lost
    machine), unless this process is still writing it; returns one notice per run.

    A run commits in batches (one transaction per run held a whole file in memory), so a
    killed run leaves its committed batches. They are removed with the run's log rows and
    the raw ids only it stored, and the run is marked ``interrupted``: a re-run then stores
    what one clean run would, with no phantom duplicates.
    """
    db = str(db_path.resolve())
    with _ACTIVE_LOCK:
        active = {run for path, run in _ACTIVE_RUNS if path == db}
    notices = []
    for (run_id,) in con.execute(
        "SELECT run_id FROM ingest_runs WHERE status = 'running' ORDER BY run_id"
    ).fetchall():
        if run_id in active:
            continue
        con.execute("BEGIN")
        n = delete_run_rows(con, run_id)
        note = (f"ingest run {run_id} was interrupted (its process ended before it finished); "
                f"rolled back its {n:,} posts. Run the ingest again.")
        con.execute("INSERT INTO ingest_notes VALUES (?, NULL, ?)", [run_id, note])
        con.execute(
            "UPDATE ingest_runs SET status = 'interrupted', finished_at = ?, rows_stored = 0 "
            "WHERE run_id = ?", [dt.datetime.now(dt.UTC).replace(tzinfo=None), run_id])
        con.execute("COMMIT")
        notices.append(note)
    return notices


def unfinished_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One notice per ingest run left ``running`` (for a read-only open, which cannot roll
    them back: no writer holds the study while it is read, so their process has died)."""
    return [
        f"ingest run {run_id} was interrupted and is not rolled back yet, so its partly "
        "stored posts are counted here; open the study read-write once (any writing command) "
        "to roll it back."
        for (run_id,) in con.execute(
            "SELECT run_id FROM ingest_runs WHERE status = 'running' ORDER BY run_id").fetchall()
    ]


def _schema_version(con: duckdb.DuckDBPyConnection, db_path: Path) -> int:
    """The schema version stored in the study (0 for an empty database); refused if a newer
    psyprofile wrote it."""
    version = 0
    if table_exists(con, "meta"):
        row = one(con, "SELECT value FROM meta WHERE key = 'schema_version'")
        version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise WorkspaceError(
            f"{db_path}: this study was written by a newer psyprofile (schema {version}, this "
            f"version knows {SCHEMA_VERSION}). Upgrade psyprofile to open it."
        )
    return version


def _check_schema(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    """Refuse a read-only open of a study whose tables are older than this psyprofile's."""
    version = _schema_version(con, db_path)
    if version < SCHEMA_VERSION:
        raise SchemaOutOfDate(
            f"{db_path}: this study has schema {version} and this psyprofile needs "
            f"{SCHEMA_VERSION}; it cannot be upgraded while opened read-only. Open it "
            "read-write once (`Workspace.open(path)`, or any psyprofile command that writes) "
            "while no other process has it open."
        )


def _migrate(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    version = _schema_version(con, db_path)
    for i in range(version, SCHEMA_VERSION):
        con.execute("BEGIN")
        con.execute(MIGRATIONS[i])
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(i + 1)]
        )
        con.execute("COMMIT")
