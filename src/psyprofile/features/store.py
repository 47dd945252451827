"""Feature tables in the workspace: one long shape for every feature set and level.

Every feature set is stored per level as a table ``feat$<set>$<level>`` with columns
``(group_id VARCHAR, feature VARCHAR, value DOUBLE, group_norm DOUBLE)``, and listed in
``feature_sets``. ``level`` is ``'message'``, ``'user'`` or a group column (e.g.
``'region'``). ``value`` is a count (or a score for lexica, embeddings, style) and
``group_norm`` the value normalised per group (for ngrams: count / total tokens of the
group, as DLATK defines it). How much text each group has is in ``group_words``.

For modelling, :func:`read_matrix` turns a table into a ``scipy.sparse`` CSR matrix whose
columns are the features in sorted order, so the same data always give the same matrix.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from psyprofile.errors import PsyprofileError
from psyprofile.store.db import one

FEATURE_COLUMNS = ("group_id", "feature", "value", "group_norm")
FEATURE_SCHEMA = pa.schema(
    [("group_id", pa.string()), ("feature", pa.string()), ("value", pa.float64()), ("group_norm", pa.float64())]
)

_DDL = """
CREATE TABLE IF NOT EXISTS feature_sets (
    name VARCHAR NOT NULL, level VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    params JSON, n_features BIGINT, n_groups BIGINT, n_rows BIGINT, created_at TIMESTAMP,
    PRIMARY KEY (name, level)
);
CREATE TABLE IF NOT EXISTS group_words (
    level VARCHAR NOT NULL, group_id VARCHAR NOT NULL, messages BIGINT, words BIGINT,
    PRIMARY KEY (level, group_id)
);
"""


def table_name(name: str, level: str) -> str:
    """The workspace table holding feature set ``name`` at ``level``."""
    return f"feat${name}${level}"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)


def write_features(
    con: duckdb.DuckDBPyConnection,
    name: str,
    level: str,
    table: pa.Table | Any,
    kind: str,
    params: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Replace feature set ``name`` at ``level`` with ``table`` (the long shape).

    ``table`` is a pyarrow Table, a pandas DataFrame or a DuckDB relation with the columns
    of :data:`FEATURE_COLUMNS`. Returns ``{'features', 'groups', 'rows'}``.
    """
    ensure_tables(con)
    tname = table_name(name, level)
    con.register("_feat_in", table)
    try:
        con.execute(
            f'CREATE OR REPLACE TABLE "{tname}" AS SELECT group_id::VARCHAR AS group_id, '
            "feature::VARCHAR AS feature, value::DOUBLE AS value, group_norm::DOUBLE AS group_norm "
            "FROM _feat_in ORDER BY group_id, feature"
        )
    finally:
        con.unregister("_feat_in")
    n_feat, n_groups, n_rows = one(con,
        f'SELECT count(DISTINCT feature), count(DISTINCT group_id), count(*) FROM "{tname}"'
    )
    con.execute(
        "INSERT OR REPLACE INTO feature_sets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [name, level, kind, json.dumps(params or {}), n_feat, n_groups, n_rows,
         dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )
    return {"features": n_feat, "groups": n_groups, "rows": n_rows}


def write_group_words(con: duckdb.DuckDBPyConnection, level: str, table: pa.Table | Any) -> None:
    """Replace the (group_id, messages, words) counts of ``level``."""
    ensure_tables(con)
    con.register("_gw_in", table)
    try:
        con.execute("DELETE FROM group_words WHERE level = ?", [level])
        con.execute(
            "INSERT INTO group_words SELECT ?, group_id::VARCHAR, messages::BIGINT, words::BIGINT FROM _gw_in",
            [level],
        )
    finally:
        con.unregister("_gw_in")


def group_words(con: duckdb.DuckDBPyConnection, level: str) -> dict[str, int]:
    """Words (tokens) per group at ``level``; empty if no tokenising step has run yet."""
    ensure_tables(con)
    return dict(con.execute("SELECT group_id, words FROM group_words WHERE level = ?", [level]).fetchall())


def list_feature_sets(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    ensure_tables(con)
    cols = ["name", "level", "kind", "params", "n_features", "n_groups", "n_rows", "created_at"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM feature_sets ORDER BY name, level").fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def require_feature_set(con: duckdb.DuckDBPyConnection, name: str, level: str) -> str:
    """The table of ``name`` at ``level``, or a clear error listing what exists."""
    ensure_tables(con)
    if one(con, "SELECT 1 FROM feature_sets WHERE name = ? AND level = ?", [name, level]):
        return table_name(name, level)
    have = ", ".join(f"{s['name']} ({s['level']})" for s in list_feature_sets(con)) or "none yet"
    raise PsyprofileError(
        f"feature set '{name}' at level '{level}' has not been extracted. Feature sets in this "
        f"study: {have}. Run `psyprofile features STUDY ...` first."
    )


@dataclass
class FeatureMatrix:
    """A feature set as a sparse matrix: rows follow ``groups``, columns ``features``."""

    X: sp.csr_matrix  # shape (len(groups), len(features)), float64
    groups: list[str]
    features: list[str]


def read_matrix(
    con: duckdb.DuckDBPyConnection,
    name: str,
    level: str = "user",
    groups: list[str] | None = None,
    column: str = "group_norm",
    features: list[str] | None = None,
) -> FeatureMatrix:
    """Load feature set ``name`` at ``level`` as a CSR matrix of ``column`` values.

    ``groups`` fixes the row order (groups without features give zero rows); default: all
    groups, sorted. ``features`` fixes the columns (e.g. those a saved model expects;
    missing ones are zero); default: all features, sorted.
    """
    tname = require_feature_set(con, name, level)
    if column not in ("value", "group_norm"):
        raise ValueError("column must be 'value' or 'group_norm'")
    data = con.execute(f'SELECT group_id, feature, "{column}" FROM "{tname}"').arrow()
    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    g = data.column(0).to_numpy(zero_copy_only=False)
    f = data.column(1).to_numpy(zero_copy_only=False)
    v = data.column(2).to_numpy(zero_copy_only=False).astype(np.float64)
    if groups is None:
        groups = sorted(set(g.tolist()))
    if features is None:
        features = sorted(set(f.tolist()))
    gi = {k: i for i, k in enumerate(groups)}
    fi = {k: i for i, k in enumerate(features)}
    rows = np.fromiter((gi.get(x, -1) for x in g), dtype=np.int64, count=len(g))
    cols = np.fromiter((fi.get(x, -1) for x in f), dtype=np.int64, count=len(f))
    ok = (rows >= 0) & (cols >= 0)
    X = sp.csr_matrix((v[ok], (rows[ok], cols[ok])), shape=(len(groups), len(features)))
    X.sum_duplicates()
    return FeatureMatrix(X, list(groups), list(features))
