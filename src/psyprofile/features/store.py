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
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from psyprofile.errors import PsyprofileError
from psyprofile.store.db import one, quote_ident

if TYPE_CHECKING:  # scipy costs 0.6 s of CPU to import, in every tokenizing worker too
    from pathlib import Path

    import scipy.sparse as sp

    from psyprofile.store.workspace import Workspace

FEATURE_COLUMNS = ("group_id", "feature", "value", "group_norm")
FEATURE_SCHEMA = pa.schema(
    [("group_id", pa.string()), ("feature", pa.string()), ("value", pa.float64()), ("group_norm", pa.float64())]
)



def table_name(name: str, level: str) -> str:
    """The workspace table holding feature set ``name`` at ``level``."""
    return f"feat${name}${level}"


def write_features(
    con: duckdb.DuckDBPyConnection,
    name: str,
    level: str,
    table: pa.Table | Any,
    kind: str,
    params: dict[str, Any] | None = None,
    ordered: bool = False,
    counts: dict[str, int] | None = None,
) -> dict[str, int]:
    """Replace feature set ``name`` at ``level`` with ``table`` (the long shape).

    ``table`` is a pyarrow Table, a pandas DataFrame or a DuckDB relation with the columns
    of :data:`FEATURE_COLUMNS`. Rows are stored sorted by (group_id, feature); ``ordered``
    says ``table`` already is, which saves sorting it. ``counts`` as for
    :func:`register_feature_set`. Returns ``{'features', 'groups', 'rows'}``.
    """
    tname = table_name(name, level)
    con.register("_feat_in", table)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(tname)} AS SELECT group_id::VARCHAR AS group_id, "
            "feature::VARCHAR AS feature, value::DOUBLE AS value, group_norm::DOUBLE AS group_norm "
            f"FROM _feat_in{'' if ordered else ' ORDER BY group_id, feature'}"
        )
    finally:
        con.unregister("_feat_in")
    return register_feature_set(con, name, level, kind, params, counts)


def register_feature_set(
    con: duckdb.DuckDBPyConnection,
    name: str,
    level: str,
    kind: str,
    params: dict[str, Any] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, int]:
    """List the already written table (or view) of ``name`` at ``level`` in ``feature_sets``.

    For writers that fill ``feat$<name>$<level>`` themselves (in SQL, or streamed with
    :class:`FeatureTableWriter`). ``counts`` (``{'features', 'groups', 'rows'}``) saves
    counting when the writer knows them. Returns ``{'features', 'groups', 'rows'}``.
    """
    tname = table_name(name, level)
    if counts is None:
        # DISTINCT in a subquery is a grouped aggregate, which DuckDB can spill to disk;
        # count(DISTINCT ...) must hold every value in memory at once.
        n_feat, n_groups, n_rows = one(con,
            f"SELECT (SELECT count(*) FROM (SELECT DISTINCT feature FROM {quote_ident(tname)})), "
            f"(SELECT count(*) FROM (SELECT DISTINCT group_id FROM {quote_ident(tname)})), "
            f"(SELECT count(*) FROM {quote_ident(tname)})"
        )
    else:
        n_feat, n_groups, n_rows = counts["features"], counts["groups"], counts["rows"]
    con.execute(
        "INSERT OR REPLACE INTO feature_sets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [name, level, kind, json.dumps(params or {}), n_feat, n_groups, n_rows,
         dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )
    return {"features": n_feat, "groups": n_groups, "rows": n_rows}


def feature_set_params(con: duckdb.DuckDBPyConnection, name: str, level: str) -> dict[str, Any] | None:
    """The ``params`` stored with ``name`` at ``level``, or None if the set does not exist."""
    row = one(con, "SELECT params FROM feature_sets WHERE name = ? AND level = ?", [name, level])
    if row is None:
        return None
    return json.loads(row[0]) if row[0] else {}


def drop_relation(con: duckdb.DuckDBPyConnection, tname: str) -> None:
    """Drop table or view ``tname`` if it exists (DuckDB will not drop a view as a table)."""
    kind = one(con, "SELECT table_type FROM information_schema.tables WHERE table_name = ?",
               [tname])
    if kind:
        con.execute(f'DROP {"VIEW" if kind[0] == "VIEW" else "TABLE"} {quote_ident(tname)}')


class FeatureTableWriter:
    """Streams a feature set into its table in pieces, replacing the old table only at the end.

    Rows go to a staging table; :meth:`commit` swaps it in and lists the set, :meth:`abort`
    drops it, so an interrupted extraction leaves the previous table intact. Append pieces in
    (group_id, feature) order to keep the table sorted like :func:`write_features` does.
    The staging table (``<table>$staging``) is a study table, not TEMP: a TEMP table cannot be
    renamed into the study, and copying it over would write every row twice. A killed run's
    staging table is dropped by the next writer of that set.
    """

    # Pieces are inserted a few at a time: one INSERT of 250k rows costs 35% less CPU than
    # seven of 36k (the 1gram pieces of the blog corpus), and holds only ~20 MB.
    FLUSH_ROWS = 250_000

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, level: str):
        self.con, self.name, self.level = con, name, level
        self.final = table_name(name, level)
        self.staging = self.final + "$staging"
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        # rows and groups counted as they pass, so that listing the set counts only features
        self._rows, self._groups = 0, 0
        self._last_group: str | None = None
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(self.staging)}")
        con.execute(
            f"CREATE TABLE {quote_ident(self.staging)} (group_id VARCHAR, feature VARCHAR, value DOUBLE, "
            "group_norm DOUBLE)"
        )

    def append(self, table: pa.Table) -> None:
        """Add rows (a pyarrow Table with the columns of :data:`FEATURE_COLUMNS`)."""
        if table.num_rows == 0:
            return
        # the staging table's types, which the INSERT would cast to anyway
        table = table.select(list(FEATURE_COLUMNS)).cast(FEATURE_SCHEMA)
        self._count_groups(table.column("group_id"))
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self._rows += table.num_rows
        if self._pending_rows >= self.FLUSH_ROWS:
            self._flush()

    def _count_groups(self, g: pa.ChunkedArray) -> None:
        """Add the piece's groups: its runs of equal ``group_id`` (pieces come in group order),
        less one if the first run continues the previous piece's last group."""
        g = g.combine_chunks()
        runs = 1 + pc.sum(pc.not_equal(g[1:], g[:-1])).as_py() if len(g) > 1 else 1
        self._groups += runs - (g[0].as_py() == self._last_group)
        self._last_group = g[-1].as_py()

    def _flush(self) -> None:
        if not self._pending:
            return
        self.con.register("_feat_piece", pa.concat_tables(self._pending))
        try:
            self.con.execute(f"INSERT INTO {quote_ident(self.staging)} SELECT * FROM _feat_piece")
        finally:
            self.con.unregister("_feat_piece")
        self._pending, self._pending_rows = [], 0

    def commit(self, kind: str, params: dict[str, Any] | None = None) -> dict[str, int]:
        """Replace the set's table with the staged rows; returns ``{'features', 'groups', 'rows'}``."""
        self._flush()
        drop_relation(self.con, self.final)
        self.con.execute(f"ALTER TABLE {quote_ident(self.staging)} RENAME TO {quote_ident(self.final)}")
        # DISTINCT in a subquery can spill to disk (see register_feature_set)
        features = one(self.con, "SELECT count(*) FROM (SELECT DISTINCT feature FROM "
                       f"{quote_ident(self.final)})")[0]
        return register_feature_set(self.con, self.name, self.level, kind, params,
                                    {"features": int(features), "groups": self._groups,
                                     "rows": self._rows})

    def abort(self) -> None:
        self._pending, self._pending_rows = [], 0
        self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(self.staging)}")


def write_group_words(con: duckdb.DuckDBPyConnection, level: str, table: pa.Table | Any) -> None:
    """Replace the (group_id, messages, words) counts of ``level``."""
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
    return dict(con.execute("SELECT group_id, words FROM group_words WHERE level = ?", [level]).fetchall())


def list_feature_sets(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = ["name", "level", "kind", "params", "n_features", "n_groups", "n_rows", "created_at"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM feature_sets ORDER BY name, level").fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def require_feature_set(con: duckdb.DuckDBPyConnection, name: str, level: str) -> str:
    """The table of ``name`` at ``level``, or a clear error listing what exists."""
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
    import scipy.sparse as sp

    tname = require_feature_set(con, name, level)
    if column not in ("value", "group_norm"):
        raise ValueError("column must be 'value' or 'group_norm'")
    # Only the rows of the asked groups and features leave DuckDB (a saved model reads a few
    # thousand of a set's features; predicting a partition, a share of its groups).
    wanted = [(col, vals) for col, vals in (("group_id", groups), ("feature", features))
              if vals is not None]
    for col, vals in wanted:
        con.register(f"_rm_{col}", pa.table({"v": pa.array(vals, pa.string())}))
    try:
        where = " AND ".join(f"{col} IN (SELECT v FROM _rm_{col})" for col, _ in wanted)
        data = con.sql(f"SELECT group_id, feature, {quote_ident(column)} FROM {quote_ident(tname)}"
                       + (f" WHERE {where}" if where else "")).to_arrow_table()
    finally:
        for col, _ in wanted:
            con.unregister(f"_rm_{col}")
    # Arrow's hash lookups instead of a Python dict per row: 6x faster on 2.8M rows.
    if groups is None:
        groups = sorted(pc.unique(data.column(0)).to_pylist())
    if features is None:
        features = sorted(pc.unique(data.column(1)).to_pylist())
    rows = pc.index_in(data.column(0), value_set=pa.array(groups, pa.string())).fill_null(-1).to_numpy()
    cols = pc.index_in(data.column(1), value_set=pa.array(features, pa.string())).fill_null(-1).to_numpy()
    v = data.column(2).to_numpy().astype(np.float64)
    ok = (rows >= 0) & (cols >= 0)
    X = sp.csr_matrix((v[ok], (rows[ok], cols[ok])), shape=(len(groups), len(features)))
    X.sum_duplicates()
    return FeatureMatrix(X, list(groups), list(features))


def export_features(ws: Workspace, name: str, level: str, out: str | Path) -> int:
    """Write a feature table in the long shape (group_id, feature, value, group_norm) to
    ``out`` (.csv or .parquet) with its codebook beside it; returns the rows written."""
    from psyprofile.features.export import long_codebook
    from psyprofile.store.export import export_query

    with ws.connect(read_only=True) as con:
        table = require_feature_set(con, name, level)
        book = long_codebook(con, name, level)
    return export_query(
        ws, f"SELECT group_id, feature, value, group_norm FROM {quote_ident(table)} "
        "ORDER BY group_id, feature", out, book
    )
