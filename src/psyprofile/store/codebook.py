"""Codebooks: beside every table written with ``--out FILE`` goes ``<stem>.codebook.csv``.

One row per column of the table, in its order: :data:`CODEBOOK_COLUMNS` (name, storage
type, unit, where the values come from, the citation of that source, and what a value means
and which way it points), then any columns a writer adds (a profile codebook adds family,
dimension, reference sample, languages, status and evidence). A column the writer did not
describe still gets a row with its type, so no column of an export goes unexplained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

CODEBOOK_COLUMNS = ["column", "type", "unit", "source", "citation", "description"]

#: Descriptions of columns many tables share.
USER_ID = {"source": "ingest", "description": "pseudonymous user id (keyed hash of the raw id)"}
MESSAGE_ID = {"source": "ingest",
              "description": "pseudonymous post id (keyed hash of the raw id)"}


def codebook_path(path: str | Path) -> Path:
    """Where the codebook of an export to ``path`` goes: ``<stem>.codebook.csv`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.codebook.csv")


def codebook_frame(columns: Sequence[str], types: Mapping[str, str],
                   described: Mapping[str, Mapping[str, Any]],
                   extra: Sequence[str] = ()) -> pd.DataFrame:
    """The codebook of a table with ``columns`` (in order): each row is ``described[col]``
    (keys among :data:`CODEBOOK_COLUMNS` and ``extra``) with ``type`` from ``types`` unless
    the description gives one; undescribed columns get their type only."""
    rows = [{**described.get(c, {}), "column": c,
             "type": described.get(c, {}).get("type") or types.get(c, "")} for c in columns]
    return pd.DataFrame(rows, columns=[*CODEBOOK_COLUMNS, *extra], dtype=object).fillna("")


def write_codebook(path: str | Path, book: pd.DataFrame) -> Path:
    """Write ``book`` (a :func:`codebook_frame`) as the codebook of the export ``path``;
    returns where it went."""
    out = codebook_path(path)
    book.to_csv(out, index=False)
    return out


def frame_types(df: pd.DataFrame) -> dict[str, str]:
    """Storage type of each column of ``df``, in the words a codebook uses."""
    def kind(dtype: Any) -> str:
        if pd.api.types.is_bool_dtype(dtype):
            return "boolean"
        if pd.api.types.is_integer_dtype(dtype):
            return "integer"
        if pd.api.types.is_float_dtype(dtype):
            return "number"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "timestamp"
        return "text"

    return {str(c): kind(t) for c, t in df.dtypes.items()}
