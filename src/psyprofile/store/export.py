"""Writing workspace tables out as CSV or Parquet (pseudonymous ids only)."""

from __future__ import annotations

from pathlib import Path

from psyprofile.errors import PsyprofileError
from psyprofile.store.db import quote_ident, scalar, table_exists
from psyprofile.store.workspace import Workspace


def export_query(ws: Workspace, sql: str, out: str | Path) -> int:
    """Write the result of ``sql`` to ``out`` (.csv or .parquet, by suffix); returns rows."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise PsyprofileError(f"{out}: give an output file ending in .csv or .parquet.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with ws.connect(read_only=True) as con:
        n = scalar(con, f"SELECT count(*) FROM ({sql})")
        # COPY takes no parameter for its target; the relation API writes to any path as given
        rel = con.sql(sql)
        if suffix == ".csv":
            rel.write_csv(str(out), header=True)
        else:
            rel.write_parquet(str(out))
    return n


def export_posts(ws: Workspace, out: str | Path) -> int:
    """Stored posts with pseudonymous ids, text, time, language and group columns."""
    with ws.connect(read_only=True) as con:
        groups = [r[0] for r in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall()]
    gsel = "".join(f", {quote_ident(g)}" for g in groups)
    return export_query(
        ws,
        f"SELECT message_id, user_id, created_at, lang, text{gsel} FROM messages ORDER BY user_id, created_at, message_id",
        out,
    )


def export_outcomes(ws: Workspace, out: str | Path) -> int:
    """Per-user outcomes with pseudonymous ids."""
    _require_table(ws, "outcomes", "load outcomes with `psyprofile outcomes STUDY FILE --user-col ID`")
    return export_query(ws, "SELECT * FROM outcomes ORDER BY user_id", out)


def export_predictions(ws: Workspace, out: str | Path) -> int:
    """Stored model predictions with their reliability columns."""
    _require_table(ws, "predictions", "run `psyprofile predict STUDY --model NAME` first")
    return export_query(ws, "SELECT * FROM predictions ORDER BY model, user_id", out)


def _require_table(ws: Workspace, table: str, fix: str) -> None:
    with ws.connect(read_only=True) as con:
        if not table_exists(con, table):
            raise PsyprofileError(f"{ws.path}: no {table} in this study yet; {fix}.")

