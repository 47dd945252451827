"""Per-user outcomes and attributes (age, survey scores, occupation, ...).

Stored in the wide table ``outcomes(user_id, <column>...)``: numeric columns as DOUBLE,
others as VARCHAR (usable as group columns and, when binary, as controls). User ids are
pseudonymised with the study key on load, so outcomes join the posts' users.

``outcomes`` is the one study table whose columns are data (the researcher's): no migration
creates it; this module creates it on the first load and rebuilds it as columns come and go,
and is its only writer (docs/architecture.md, "Tables and owners").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from psyprofile.errors import InputError, PsyprofileError
from psyprofile.store.db import quote_ident, scalar, table_exists
from psyprofile.store.workspace import Workspace


@dataclass
class OutcomeReport:
    file: str
    rows: int
    loaded: int
    columns: list[str]
    no_user: int
    duplicate_user: int
    not_in_study: int  # users with outcomes but no posts (kept; they just cannot be scored)

    def summary(self) -> str:
        return (
            f"{self.file}: {self.rows:,} rows, {self.loaded:,} users loaded with columns "
            f"{', '.join(self.columns)}; skipped {self.no_user:,} without a user id and "
            f"{self.duplicate_user:,} repeated users (first kept); {self.not_in_study:,} users "
            "have no posts in this study"
        )


def read_table_file(path: Path) -> pd.DataFrame:
    """A small per-user CSV/TSV/Parquet file as strings, with a clear error if unreadable."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        sep = "\t" if suffix in (".tsv", ".tab") else ","
        try:
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        except UnicodeDecodeError:
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding="cp1252")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as a table ({exc}).") from None


def load_outcomes(ws: Workspace, path: str | Path, user_col: str = "user_id",
                  columns: list[str] | None = None) -> OutcomeReport:
    """Load per-user outcomes from ``path``; existing columns of the same name are replaced."""
    path = Path(path)
    return store_outcomes(ws, read_table_file(path), user_col, columns, source=str(path))


def store_outcomes(ws: Workspace, df: pd.DataFrame, user_col: str = "user_id",
                   columns: list[str] | None = None, *, source: str = "outcomes") -> OutcomeReport:
    """Store the outcomes in ``df`` (one row per user, raw ids in ``user_col``).

    Ids are pseudonymised with the study key; existing columns of the same name are replaced.
    ``source`` names the input in messages and in the report.
    """
    if user_col not in df.columns:
        raise InputError(
            f"{source}: no column '{user_col}' for the user id. Columns found: {', '.join(map(str, df.columns))}. "
            "Name it with --user-col."
        )
    keep = [c for c in (columns or df.columns) if c != user_col]
    missing = [c for c in keep if c not in df.columns]
    if missing:
        raise InputError(f"{source}: columns {', '.join(missing)} not found. Columns found: {', '.join(df.columns)}.")
    if not keep:
        raise InputError(f"{source}: no outcome columns besides '{user_col}'.")
    rows = len(df)
    ids = df[user_col].astype("string").str.strip()
    no_user = int(ids.isna().sum() + (ids == "").sum())
    df = df[ids.notna() & (ids != "")].copy()
    pseudo = ws.pseudonymizer("user")
    df["user_id"] = [pseudo(str(u).strip()) for u in df[user_col]]
    dup = int(df["user_id"].duplicated().sum())
    df = df.drop_duplicates("user_id")
    out = pd.DataFrame({"user_id": df["user_id"].to_numpy()})
    for c in keep:
        s = df[c]
        num = pd.to_numeric(s, errors="coerce")
        # A column is numeric when every non-empty value parses as a number.
        out[c] = num.astype(float).to_numpy() if num.notna().sum() == s.notna().sum() else s.astype(object).to_numpy()
    with ws.connect() as con:
        _merge(con, out)
        not_in = scalar(con,
            "SELECT count(*) FROM _new_outcomes n WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.user_id = n.user_id)"
        )
        con.unregister("_new_outcomes")
    return OutcomeReport(source, rows, len(out), keep, no_user, dup, not_in)


def _merge(con: duckdb.DuckDBPyConnection, new: pd.DataFrame) -> None:
    con.register("_new_outcomes", new)
    if not table_exists(con, "outcomes"):
        con.execute("CREATE TABLE outcomes AS SELECT * FROM _new_outcomes")
        return
    old_cols = [r[0] for r in con.execute("DESCRIBE outcomes").fetchall() if r[0] != "user_id"]
    new_cols = [c for c in new.columns if c != "user_id"]
    kept_old = [c for c in old_cols if c not in new_cols]
    sel_old = "".join(f", o.{quote_ident(c)}" for c in kept_old)
    sel_new = "".join(f", n.{quote_ident(c)}" for c in new_cols)
    con.execute(
        f"""CREATE OR REPLACE TABLE outcomes AS
        SELECT coalesce(o.user_id, n.user_id) AS user_id{sel_old}{sel_new}
        FROM outcomes o FULL OUTER JOIN _new_outcomes n ON o.user_id = n.user_id
        ORDER BY user_id"""
    )


def outcome_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Outcome column -> DuckDB type; empty when no outcomes are loaded."""
    if not table_exists(con, "outcomes"):
        return {}
    return {r[0]: r[1] for r in con.execute("DESCRIBE outcomes").fetchall() if r[0] != "user_id"}


def read_outcomes(con: duckdb.DuckDBPyConnection, names: list[str]) -> pd.DataFrame:
    """The columns ``names`` of ``outcomes`` indexed by ``user_id`` (clear error if missing)."""
    have = outcome_columns(con)
    missing = [n for n in names if n not in have]
    if missing:
        raise PsyprofileError(
            f"outcome {', '.join(missing)} not loaded. Outcomes in this study: "
            f"{', '.join(have) or 'none'}. Load them with `psyprofile outcomes STUDY FILE.csv --user-col ID`."
        )
    cols = ", ".join(quote_ident(n) for n in names)
    return con.execute(f"SELECT user_id, {cols} FROM outcomes ORDER BY user_id").df().set_index("user_id")


def level_key(value: object) -> str:
    """An outcome value as the text its label is stored under: 1.0 -> '1', 'f' -> 'f'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_labels(specs: tuple[str, ...] | list[str]) -> dict[str, dict[str, str]]:
    """``['gender=0:male,1:female']`` -> ``{'gender': {'0': 'male', '1': 'female'}}``."""
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        column, eq, pairs = spec.partition("=")
        levels = {}
        for pair in pairs.split(","):
            value, colon, label = pair.partition(":")
            if not colon or not value.strip() or not label.strip():
                levels = {}
                break
            levels[level_key(_number(value.strip()))] = label.strip()
        if not eq or not column.strip() or not levels:
            raise InputError(
                f"--labels '{spec}': write COLUMN=VALUE:LABEL,VALUE:LABEL, e.g. "
                "gender=0:male,1:female.")
        out.setdefault(column.strip(), {}).update(levels)
    return out


def _number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def set_value_labels(ws: Workspace, labels: dict[str, dict[str, str]]) -> None:
    """Store value labels per outcome column (replacing those of the same values)."""
    with ws.connect() as con:
        have = outcome_columns(con)
        unknown = [c for c in labels if c not in have]
        if unknown:
            raise InputError(
                f"--labels: no outcome {', '.join(unknown)} in this study (outcomes: "
                f"{', '.join(have) or 'none'}). Load it first with `psyprofile outcomes`.")
        for column, levels in labels.items():
            for value, label in levels.items():
                con.execute("INSERT OR REPLACE INTO outcome_labels VALUES (?, ?, ?)",
                            [column, value, label])


def value_labels(con: duckdb.DuckDBPyConnection, column: str) -> dict[str, str]:
    """{value (as :func:`level_key`): label} of outcome ``column``; empty without labels."""
    if not table_exists(con, "outcome_labels"):
        return {}
    return dict(con.execute("SELECT value, label FROM outcome_labels WHERE outcome = ?",
                            [column]).fetchall())
