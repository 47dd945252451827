"""Writing workspace tables out as CSV or Parquet (pseudonymous ids only)."""

from __future__ import annotations

from pathlib import Path

from psyprofile.errors import PsyprofileError
from psyprofile.store.db import scalar
from psyprofile.store.workspace import Workspace


def export_query(ws: Workspace, sql: str, out: str | Path) -> int:
    """Write the result of ``sql`` to ``out`` (.csv or .parquet, by suffix); returns rows."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise PsyprofileError(f"{out}: give an output file ending in .csv or .parquet.")
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = "(FORMAT csv, HEADER true)" if suffix == ".csv" else "(FORMAT parquet)"
    with ws.connect(read_only=True) as con:
        n = scalar(con, f"SELECT count(*) FROM ({sql})")
        con.execute(f"COPY ({sql}) TO '{_quote(out)}' {fmt}")
    return n


def export_posts(ws: Workspace, out: str | Path) -> int:
    """Stored posts with pseudonymous ids, text, time, language and group columns."""
    with ws.connect(read_only=True) as con:
        groups = [r[0] for r in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall()]
    gsel = "".join(f', "{g}"' for g in groups)
    return export_query(
        ws,
        f"SELECT message_id, user_id, created_at, lang, text{gsel} FROM messages ORDER BY user_id, created_at, message_id",
        out,
    )


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
