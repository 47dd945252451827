"""The study workspace: a folder with one DuckDB file, a TOML config and the study key.

Layout of ``STUDY_DIR``::

    study.duckdb       every table of the study (posts, features, models' outputs, logs)
    psyprofile.toml    settings a researcher may edit (minimum group size, minimum words)
    secret.key         the pseudonymisation key, mode 0600; keep it out of any release
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from psyprofile import __version__
from psyprofile.errors import WorkspaceError
from psyprofile.privacy.pseudonym import Pseudonymizer, new_key, read_key, write_key
from psyprofile.store.db import one, table_exists
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


@dataclass
class Workspace:
    """An opened study workspace. Create with :meth:`create`, open with :meth:`open`."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)

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
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "name": name or path.resolve().name,
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "psyprofile_version": __version__,
            **DEFAULT_CONFIG,
        }
        lines = ["# psyprofile study settings; edit the values, keep the keys.\n[study]\n"]
        lines += [f"{k} = {_toml_value(v)}\n" for k, v in config.items()]
        (path / CONFIG_NAME).write_text("".join(lines))
        write_key(path / KEY_NAME, new_key())
        ws = cls(path, config)
        with ws.connect() as con:
            _migrate(con, ws.db_path)
        return ws

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        """Open an existing study; raises :class:`WorkspaceError` with a fix if it is not one."""
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
        ws = cls(path, {**DEFAULT_CONFIG, **config})
        with ws.connect() as con:
            _migrate(con, ws.db_path)
        return ws

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection to the study database, closed on exit."""
        try:
            con = duckdb.connect(str(self.db_path), read_only=read_only)
        except duckdb.IOException as exc:
            raise WorkspaceError(
                f"{self.db_path}: cannot open the study database ({exc}). Is another "
                "psyprofile process writing to it?"
            ) from None
        try:
            con.execute(f"SET memory_limit = '{self.config.get('memory_limit', DEFAULT_CONFIG['memory_limit'])}'")
            yield con
        finally:
            con.close()

    def key(self) -> bytes:
        return read_key(self.key_path)

    def pseudonymizer(self, namespace: str = "user") -> Pseudonymizer:
        """The keyed hash of this study for ``namespace`` ('user' or 'message')."""
        return Pseudonymizer(self.key(), namespace)

    def min_group_size(self) -> int:
        return int(self.config["min_group_size"])


def _migrate(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    has_meta = table_exists(con, "meta")
    version = 0
    if has_meta:
        row = one(con, "SELECT value FROM meta WHERE key = 'schema_version'")
        version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise WorkspaceError(
            f"{db_path}: this study was written by a newer psyprofile (schema {version}, this "
            f"version knows {SCHEMA_VERSION}). Upgrade psyprofile to open it."
        )
    for i in range(version, SCHEMA_VERSION):
        con.execute("BEGIN")
        con.execute(MIGRATIONS[i])
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(i + 1)]
        )
        con.execute("COMMIT")
