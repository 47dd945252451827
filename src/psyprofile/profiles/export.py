"""Profiles as one row per user, for ``psyprofile profile STUDY --out FILE``.

Columns: ``user_id`` (pseudonymous), ``words``, ``status`` ('scored' or
'insufficient_text'), then per dimension ``<dimension>``, ``<dimension>_lo``,
``<dimension>_hi`` and ``<dimension>_pct`` (empty for users not scored).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.profiles.study import read_scores
from psyprofile.store.workspace import Workspace


def wide_profiles(ws: Workspace) -> pd.DataFrame:
    """One row per user of the last profile run (sorted by user id)."""
    scores = read_scores(ws)
    with ws.connect() as con:
        users = con.execute("SELECT user_id, words, status FROM profile_users ORDER BY user_id").df()
    order = list(dict.fromkeys(scores["dimension"]))
    wide = scores.pivot_table(index="user_id", columns="dimension",
                              values=["value", "lo", "hi", "pct"], aggfunc="first", dropna=False)
    cols = {}
    for d in order:
        for part, suffix in (("value", ""), ("lo", "_lo"), ("hi", "_hi"), ("pct", "_pct")):
            cols[d + suffix] = wide[(part, d)] if (part, d) in wide.columns else pd.Series(dtype=float)
    return users.merge(pd.DataFrame(cols).reset_index(names="user_id"), on="user_id", how="left")


def export_profiles(ws: Workspace, path: str | Path) -> int:
    """Write :func:`wide_profiles` to ``path`` (.csv or .parquet); returns the rows written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise PsyprofileError(f"{path}: --out takes a .csv or .parquet file name.")
    df = wide_profiles(ws)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return len(df)
