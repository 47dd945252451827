"""Cross-validation folds by user: made from a seed, or read from a ``user_id,fold`` file.

A fold file written by :func:`write_fold_file` holds pseudonymous ids under the header
``pseudo_user_id``; a file from elsewhere (e.g. DLATK's folds) holds raw ids under
``user_id`` and is pseudonymised with the study key on import, as outcomes are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from psyprofile.errors import InputError, PsyprofileError

RAW_ID = "user_id"
PSEUDO_ID = "pseudo_user_id"


def make_folds(y: np.ndarray, n_folds: int, seed: int, task: str) -> np.ndarray:
    """Fold index (0..n_folds-1) per user, shape (n,).

    Classification folds keep the class shares (``StratifiedKFold``); regression folds are
    a seeded shuffle (``KFold``). Raises a clear error when there are too few users.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    if n_folds < 2:
        raise PsyprofileError(f"--folds must be at least 2 (got {n_folds}).")
    if n < 2 * n_folds:
        raise PsyprofileError(
            f"only {n} users have the outcome and enough words, too few for {n_folds} folds "
            f"(need at least {2 * n_folds}). Use fewer --folds, lower --min-words, or add data."
        )
    if task == "classification":
        smallest = int(np.bincount(y.astype(int)).min())
        if smallest < n_folds:
            raise PsyprofileError(
                f"the rarest class has only {smallest} users, too few for {n_folds} stratified "
                "folds. Use fewer --folds or merge rare classes."
            )
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_folds, shuffle=True, random_state=seed)
    folds = np.empty(n, dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros((n, 1)), y)):
        folds[test] = k
    return folds


@dataclass
class FoldFile:
    """Folds read from a file: pseudonymous user id -> fold label (an int)."""

    path: Path
    folds: dict[str, int]
    rows: int


def read_fold_file(path: str | Path, pseudonymize: Callable[[str], str]) -> FoldFile:
    """Read ``user_id,fold`` (raw ids, pseudonymised here) or ``pseudo_user_id,fold``."""
    from psyprofile.store.outcomes import read_table_file

    path = Path(path)
    df = read_table_file(path)
    id_col = PSEUDO_ID if PSEUDO_ID in df.columns else RAW_ID
    if id_col not in df.columns or "fold" not in df.columns:
        raise InputError(
            f"{path}: a fold file needs the columns '{RAW_ID}' (or '{PSEUDO_ID}') and 'fold'; "
            f"found {', '.join(map(str, df.columns))}."
        )
    folds = pd.to_numeric(df["fold"], errors="coerce")
    bad = df.index[folds.isna() | (folds != folds.round()) | df[id_col].isna()]
    if len(bad):
        row = int(bad[0]) + 2  # 1-based, after the header line
        raise InputError(
            f"{path}, row {row}: the fold must be a whole number and the user id non-empty "
            f"(found '{df.loc[bad[0], id_col]}', '{df.loc[bad[0], 'fold']}'); {len(bad)} such rows. "
            "Fix or remove them."
        )
    ids = df[id_col].astype(str).str.strip()
    if id_col == RAW_ID:
        ids = ids.map(pseudonymize)
    dup = ids.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise InputError(f"{path}, row {row}: user listed twice; each user belongs to one fold.")
    return FoldFile(path, dict(zip(ids, folds.astype(int), strict=True)), len(df))


def assign_folds(users: list[str], fold_file: FoldFile) -> tuple[np.ndarray, np.ndarray]:
    """Fold index (0..K-1, in order of the file's labels) per user, and a mask of users found.

    Users absent from the file get no fold; the caller excludes and counts them.
    """
    labels = sorted(set(fold_file.folds.values()))
    index = {lab: i for i, lab in enumerate(labels)}
    found = np.array([u in fold_file.folds for u in users], dtype=bool)
    folds = np.array([index[fold_file.folds[u]] if ok else -1 for u, ok in zip(users, found, strict=True)])
    return folds, found


def write_fold_file(path: str | Path, users: list[str], folds: np.ndarray) -> None:
    """Write the folds of ``users`` (pseudonymous ids) so a later run can reuse them."""
    pd.DataFrame({PSEUDO_ID: users, "fold": np.asarray(folds, dtype=int)}).to_csv(path, index=False)
