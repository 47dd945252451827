"""Writing workspace tables out as CSV or Parquet (pseudonymous ids only), each with its
codebook beside it (:mod:`psyprofile.store.codebook`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psyprofile.errors import PsyprofileError
from psyprofile.store import codebook as cb
from psyprofile.store.db import quote_ident, scalar, table_exists
from psyprofile.store.outcomes import outcome_columns
from psyprofile.store.workspace import Workspace

#: DuckDB type (its first word) -> the type a codebook states
_TYPES = {"VARCHAR": "text", "DOUBLE": "number", "FLOAT": "number", "BIGINT": "integer",
          "INTEGER": "integer", "BOOLEAN": "boolean", "TIMESTAMP": "timestamp", "DATE": "date"}

_POSTS = {
    "message_id": cb.MESSAGE_ID, "user_id": cb.USER_ID,
    "created_at": {"unit": "UTC", "source": "ingest", "description": "time of the post"},
    "lang": {"unit": "ISO 639-1 code", "source": "ingest (language identification)",
             "description": "language of the post's text"},
    "text": {"source": "ingest", "description": "the post's text as stored (raw)"},
}
_PREDICTIONS = {
    "user_id": cb.USER_ID,
    "model": {"source": "psyprofile predict", "description": "name of the saved model"},
    "outcome": {"source": "the model's card", "description": "what the model predicts"},
    "value": {"unit": "the outcome's unit (classification: probability of the class)",
              "source": "the model", "description": "predicted value"},
    "lo": {"unit": "as value", "source": "the model",
           "description": "lower end of its 95% interval (text sampling error)"},
    "hi": {"unit": "as value", "source": "the model",
           "description": "upper end of its 95% interval (text sampling error)"},
    "words": {"unit": "tokens", "source": "features", "description": "1gram tokens of the user"},
    "model_hash": {"source": "the model's folder",
                   "description": "digest of the model's content: tells two models of one "
                                  "name apart"},
    "fit": {"source": "psyprofile train / predict",
            "description": "oof: out-of-fold prediction made in training; applied: the model "
                           "applied to the user"},
}


def export_query(ws: Workspace, sql: str, out: str | Path,
                 codebook: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """Write the result of ``sql`` to ``out`` (.csv or .parquet, by suffix) and its
    codebook (``codebook``: column -> description, see
    :func:`psyprofile.store.codebook.codebook_frame`) beside it; returns rows."""
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
        types = {c: _TYPES.get(str(t).split("(")[0].split(" ")[0], str(t).lower())
                 for c, t in zip(rel.columns, rel.types, strict=True)}
        columns = list(rel.columns)
    cb.write_codebook(out, cb.codebook_frame(columns, types, codebook or {}))
    return n


def export_posts(ws: Workspace, out: str | Path) -> int:
    """Stored posts with pseudonymous ids, text, time, language and group columns."""
    with ws.connect(read_only=True) as con:
        groups = [r[0] for r in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall()]
    gsel = "".join(f", {quote_ident(g)}" for g in groups)
    book = {**_POSTS, **{g: {"source": "ingest (--group-col)",
                             "description": "group column kept at ingest, in clear"}
                         for g in groups}}
    return export_query(
        ws,
        f"SELECT message_id, user_id, created_at, lang, text{gsel} FROM messages ORDER BY user_id, created_at, message_id",
        out, book,
    )


def export_outcomes(ws: Workspace, out: str | Path) -> int:
    """Per-user outcomes with pseudonymous ids."""
    _require_table(ws, "outcomes", "load outcomes with `psyprofile outcomes STUDY FILE --user-col ID`")
    with ws.connect(read_only=True) as con:
        names = outcome_columns(con)
    book = {c: {"source": "psyprofile outcomes (loaded file)",
                "description": "per-user outcome as loaded"} for c in names}
    return export_query(ws, "SELECT * FROM outcomes ORDER BY user_id", out,
                        {**book, "user_id": cb.USER_ID})


def export_predictions(ws: Workspace, out: str | Path) -> int:
    """Stored model predictions with their reliability columns."""
    _require_table(ws, "predictions", "run `psyprofile predict STUDY --model NAME` first")
    return export_query(ws, "SELECT * FROM predictions ORDER BY model, user_id", out, _PREDICTIONS)


def _require_table(ws: Workspace, table: str, fix: str) -> None:
    with ws.connect(read_only=True) as con:
        if not table_exists(con, table):
            raise PsyprofileError(f"{ws.path}: no {table} in this study yet; {fix}.")

