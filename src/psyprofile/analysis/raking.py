"""Post-stratification: raking users' weights to census margins, and Kish's effective n.

The margins file is a CSV with one row per stratum level::

    stratum,level,share
    age_bin,13-17,0.20
    age_bin,18-29,0.50
    age_bin,30+,0.30
    gender,female,0.51
    gender,male,0.49

Shares of a stratum are normalised to sum to 1 (so percentages work too). Each user's level
comes from the outcome column of the stratum's name when loaded (known), else from the
profile (estimated): a stratum named ``age...`` bins the outcome ``age`` or the profile's
``age`` estimate with the levels' bounds (``a-b`` means a <= age < b+1, ``a+`` and ``<a``
too); a stratum named ``gender...``/``sex...`` uses the outcome ``gender`` or the profile's
``gender_female`` (>= 0.5 -> ``female``, else ``male``). Levels match case-insensitively
(``F`` matches ``female``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from psyprofile.errors import InputError
from psyprofile.store.db import quote_ident
from psyprofile.store.outcomes import outcome_columns, read_table_file

_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-–]\s*(\d+(?:\.\d+)?)\s*$")
_PLUS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*\+\s*$")
_BELOW = re.compile(r"^\s*<\s*(\d+(?:\.\d+)?)\s*$")


def read_margins(path: str | Path, strata: list[str]) -> dict[str, dict[str, float]]:
    """Census margins from ``path`` as stratum -> level -> share (shares sum to 1)."""
    path = Path(path)
    df = read_table_file(path)
    need = ["stratum", "level", "share"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"{path}: columns {', '.join(missing)} missing; the margins file needs "
                         f"columns stratum,level,share (found: {', '.join(map(str, df.columns))}).")
    out: dict[str, dict[str, float]] = {}
    for i, row in enumerate(df[need].itertuples(index=False), start=2):
        try:
            share = float(row.share)
        except (TypeError, ValueError):
            share = float("nan")
        if not np.isfinite(share) or share < 0:
            raise InputError(f"{path}, row {i}: share '{row.share}' is not a number >= 0.")
        out.setdefault(str(row.stratum).strip(), {})[str(row.level).strip()] = share
    absent = [s for s in strata if s not in out]
    if absent:
        raise InputError(f"{path}: no margins for strata {', '.join(absent)}; strata in the file: "
                         f"{', '.join(out)}.")
    result = {}
    for s in strata:
        total = sum(out[s].values())
        if total <= 0:
            raise InputError(f"{path}: the shares of stratum '{s}' sum to 0.")
        result[s] = {lvl: v / total for lvl, v in out[s].items()}
    return result


def _age_binner(levels: list[str], where: str):
    bounds = []
    for lvl in levels:
        if m := _RANGE.match(lvl):
            bounds.append((float(m[1]), float(m[2]) + 1, lvl))
        elif m := _PLUS.match(lvl):
            bounds.append((float(m[1]), np.inf, lvl))
        elif m := _BELOW.match(lvl):
            bounds.append((-np.inf, float(m[1]), lvl))
        else:
            raise InputError(f"{where}: age level '{lvl}' is not a range like 18-24, 65+ or <18; "
                             "name the stratum after a loaded outcome column to use its values.")

    def binned(age: float) -> str | None:
        if pd.isna(age):
            return None
        for lo, hi, lvl in bounds:
            if lo <= age < hi:
                return lvl
        return None

    return binned


def _matcher(levels: list[str]):
    exact = {lvl.casefold(): lvl for lvl in levels}
    initial: dict[str, list[str]] = {}
    for lvl in levels:
        initial.setdefault(lvl[:1].casefold(), []).append(lvl)

    def match(value: object) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        v = str(value).strip().casefold()
        if v in exact:
            return exact[v]
        cands = initial.get(v[:1], []) if v else []
        return cands[0] if len(cands) == 1 else None

    return match


@dataclass
class StrataValues:
    """Each user's level per stratum, and where the levels came from."""

    levels: pd.DataFrame  # index user_id, one column per stratum (None when unknown)
    known: dict[str, int] = field(default_factory=dict)
    estimated: dict[str, int] = field(default_factory=dict)


def strata_values(con: duckdb.DuckDBPyConnection, users: pd.Index, est: pd.DataFrame,
                  margins: dict[str, dict[str, float]], where: str) -> StrataValues:
    """Levels of ``users`` for each stratum of ``margins``.

    ``est`` holds the profile values used for estimates, users (index) × dimensions.
    """
    have = outcome_columns(con)
    out = pd.DataFrame(index=users)
    sv = StrataValues(out)
    for s, shares in margins.items():
        levels = list(shares)
        low = s.casefold()
        is_age, is_gender = low.startswith("age"), low.startswith(("gender", "sex"))
        known_col = s if s in have else ("age" if is_age and "age" in have else
                                         "gender" if is_gender and "gender" in have else None)
        known = pd.Series(None, index=users, dtype=object)
        if known_col:
            raw = con.execute(f"SELECT user_id, {quote_ident(known_col)} FROM outcomes").df()
            raw = raw.set_index("user_id")[known_col].reindex(users)
            if is_age and known_col == "age":
                known = pd.to_numeric(raw, errors="coerce").map(_age_binner(levels, where))
            else:
                known = raw.map(_matcher(levels))
        guess = pd.Series(None, index=users, dtype=object)
        if is_age and "age" in est.columns:
            guess = est["age"].reindex(users).map(_age_binner(levels, where))
        elif is_gender and "gender_female" in est.columns:
            p = est["gender_female"].reindex(users)
            labels = p.where(p.isna(), np.where(p >= 0.5, "female", "male"))
            guess = labels.map(_matcher(levels))
        if not known_col and guess.isna().all():
            raise InputError(
                f"{where}: no values for stratum '{s}': load an outcome column '{s}' with "
                "`psyprofile outcomes`, or profile the users' age/gender with `psyprofile profile`."
            )
        sv.known[s] = int(known.notna().sum())
        sv.estimated[s] = int((known.isna() & guess.notna()).sum())
        out[s] = known.where(known.notna(), guess)
    return sv


def rake(levels: pd.DataFrame, margins: dict[str, dict[str, float]],
         base: np.ndarray | None = None, where: str = "margins",
         tol: float = 1e-10, max_iter: int = 1000) -> np.ndarray:
    """Weights (mean 1) making the weighted shares of each stratum equal ``margins``.

    Iterative proportional fitting over the strata in turn, starting from ``base`` (prior
    weights, e.g. from ``--weights``; default 1), until no share is off by more than ``tol``.
    ``levels`` has one row per user and one column per stratum, no missing values.
    Hand-written because the maintained raking package on PyPI (weightipy) cannot start from
    prior weights.
    """
    for s, shares in margins.items():
        present = set(levels[s])
        empty = [lvl for lvl, v in shares.items() if v > 0 and lvl not in present]
        if empty:
            raise InputError(f"{where}: no users in level(s) {', '.join(empty)} of stratum "
                             f"'{s}', so raking cannot reach that margin; merge those levels.")
    w = np.ones(len(levels)) if base is None else np.asarray(base, float).copy()
    masks = {s: {lvl: levels[s].to_numpy() == lvl for lvl in shares}
             for s, shares in margins.items()}
    for _ in range(max_iter):
        worst = 0.0
        for s, shares in margins.items():
            total = w.sum()
            for lvl, share in shares.items():
                cur = w[masks[s][lvl]].sum() / total
                worst = max(worst, abs(cur - share))
                if cur > 0:
                    w[masks[s][lvl]] *= share / cur
        if worst < tol:
            break
    else:
        raise InputError(f"{where}: raking did not converge in {max_iter} rounds; the margins "
                         "may be impossible for this sample (e.g. a level with almost no users).")
    return w / w.mean()


def kish_ess(w: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of weights ``w``."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / (w ** 2).sum()) if len(w) else 0.0


def cap_ratio(w: np.ndarray, ratio: float) -> tuple[np.ndarray, int]:
    """Weights trimmed into [median / sqrt(ratio), median * sqrt(ratio)] (so the largest is
    at most ``ratio`` times the smallest), rescaled to mean 1, and how many were trimmed.

    A weight file can give one user almost all the weight of a group (1 against 1e-12),
    which publishes that user's scores under the group's name; trimming bounds the share of
    any one user, and the effective sample size rule suppresses what is left uneven.
    """
    if not ratio >= 1:
        raise InputError(f"--max-weight-ratio must be at least 1 (got {ratio}).")
    w = np.asarray(w, float)
    med = float(np.median(w))
    lo, hi = med / np.sqrt(ratio), med * np.sqrt(ratio)
    trimmed = int(((w < lo) | (w > hi)).sum())
    out = np.clip(w, lo, hi)
    return out / out.mean(), trimmed
