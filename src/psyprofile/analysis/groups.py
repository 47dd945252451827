"""Group studies: means, medians and bootstrap CIs of user profile scores per group and period.

Input is the profile of each user (``profile_scores``, written by ``psyprofile profile``).
A ``by`` column is either a message group column (kept at ingest with ``--group-col``) or a
per-user outcome column (``psyprofile outcomes``). For a message column a user belongs to
the group they post in most (their modal value; ties go to the first value in sort order),
so every user counts once per partition; posts with no value are ignored for that vote.
With ``period`` the users of each period are those with at least ``min_period_words``
words of posts in it, in their modal group of that period, each scored on their own posts
of that period (:mod:`psyprofile.profiles.periods`), so a trend measures change.

Estimates weight users equally, or by their posts in the partition (``weight_by="posts"``),
times weights from a file (``weights``) and raking weights (``poststratify``); weights are
trimmed to a maximum ratio, and a weighted group whose Kish effective sample size is under
the minimum is suppressed. Bootstrap CIs resample users with replacement, seeded per group
from the run seed and the group's key, so results do not depend on the order or the machine
the groups are computed on. Small groups are suppressed and every release is audited with
all earlier ones (see :mod:`psyprofile.analysis.suppress`), optionally with differential
privacy (see :mod:`psyprofile.analysis.dp`). Released non-DP numbers are rounded
(:func:`psyprofile.analysis.suppress.round_value`).

Tables (contract C2): ``study_runs``, ``study_groups``, ``study_comparisons`` and
``privacy_budget``; ``study_runs.params`` is JSON with the options and a ``results`` object
(``ess``, users left out and why, where strata levels came from, the DP release id, the
trend's definition, the audit's time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from psyprofile.analysis import compare, dp, raking
from psyprofile.analysis.suppress import Ledger, Partition, round_value
from psyprofile.errors import InputError, PsyprofileError
from psyprofile.profiles.periods import PERIOD_FORMATS
from psyprofile.store.db import quote_ident, scalar, table_exists
from psyprofile.store.outcomes import outcome_columns, read_table_file
from psyprofile.store.workspace import Workspace

FAMILIES = ("big5", "emotions", "sentiment", "wellbeing", "temporal", "age", "gender")
GROUP_COLUMNS = ["by", "grp", "period", "family", "score", "n_users", "n_posts", "mean",
                 "median", "ci_lo", "ci_hi", "suppressed", "dp", "noise_scale", "n_noise_scale"]
MAX_WEIGHT_RATIO = 10.0
COMPARISON_COLUMNS = ["by", "score", "group_a", "group_b", "effect", "estimate", "ci_lo",
                      "ci_hi", "p", "q"]

@dataclass
class StudyResult:
    """One stored study run: its options, group rows and comparisons, and the DP budget."""

    run_id: int
    params: dict[str, Any]
    groups: pd.DataFrame  # columns GROUP_COLUMNS, one row per by x period x group x score
    comparisons: pd.DataFrame  # columns COMPARISON_COLUMNS
    budget: pd.DataFrame = field(default_factory=pd.DataFrame)  # privacy_budget + total_epsilon

    @property
    def results(self) -> dict[str, Any]:
        return self.params.get("results", {})


# ---------------------------------------------------------------- bootstrap (engine tasks)

def group_seed(seed: int, by: str, period: str | None, score: str, grp: str) -> list[int]:
    """Entropy of the bootstrap generator of one group: ``[seed, hash(key)]``.

    ``np.random.default_rng(np.random.SeedSequence(group_seed(...)))`` is the generator.
    """
    key = "\x00".join([by, period or "", score, grp]).encode()
    return [int(seed), int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")]


def weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """The value where the cumulative weight reaches half (the midpoint on an exact tie).

    With equal weights this is ``np.median``.
    """
    o = np.argsort(x, kind="stable")
    x, c = x[o], np.cumsum(w[o]) / w.sum()
    i = int(np.searchsorted(c, 0.5 - 1e-12))
    if abs(c[i] - 0.5) < 1e-12 and i + 1 < len(x):
        return float((x[i] + x[i + 1]) / 2)
    return float(x[i])


def bootstrap_stats(item: tuple[np.ndarray, np.ndarray, int, list[int]]) -> tuple[float, ...]:
    """(mean, median, ci_lo, ci_hi) of one group: weighted mean and median of ``values``.

    ``item`` = (values, weights, n_boot, entropy). The 95% CI is the percentile interval of
    the weighted mean over ``n_boot`` resamples of users: with
    ``rng = default_rng(SeedSequence(entropy))``, ``idx = rng.integers(0, n, (n_boot, n))``.
    Top-level so engines can pickle it.
    """
    x, w, n_boot, entropy = item
    mean = float(np.sum(w * x) / np.sum(w))
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    if np.all(w == w[0]):
        means = np.sort(x[idx].mean(axis=1))
    else:
        wb = w[idx]
        means = np.sort((wb * x[idx]).sum(axis=1) / wb.sum(axis=1))
    lo, hi = _percentiles(means, (0.025, 0.975))
    return mean, weighted_median(x, w), lo, hi


def _percentiles(sorted_values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile``'s default (linear) quantiles of sorted values, without its ~0.1 ms
    overhead per call (a study bootstraps thousands of groups)."""
    n = len(sorted_values)
    out = []
    for q in qs:
        pos = q * (n - 1)
        i = min(int(np.floor(pos)), n - 1)
        j = min(i + 1, n - 1)
        out.append(float(sorted_values[i] + (sorted_values[j] - sorted_values[i]) * (pos - i)))
    return out


# ---------------------------------------------------------------- inputs

def _profiles(con: duckdb.DuckDBPyConnection, study: Path) -> pd.DataFrame:
    if not table_exists(con, "profile_scores") or not scalar(
            con, "SELECT count(*) FROM profile_scores WHERE value IS NOT NULL"):
        raise PsyprofileError(f"{study}: no user profiles yet; run `psyprofile profile {study}` "
                              "first, then `psyprofile study`.")
    sql = ("SELECT user_id, family, dimension, value FROM profile_scores "
           "WHERE value IS NOT NULL AND isfinite(value)")
    if table_exists(con, "profile_users"):
        sql += " AND user_id IN (SELECT user_id FROM profile_users WHERE status = 'scored')"
    return con.execute(sql + " ORDER BY user_id, dimension").df()


def resolve_scores(profile: pd.DataFrame, wanted: Sequence[str]) -> list[tuple[str, str]]:
    """(family, dimension) pairs named by ``wanted`` (family or dimension names), in order."""
    pairs = profile[["family", "dimension"]].drop_duplicates().sort_values(["family", "dimension"])
    out: list[tuple[str, str]] = []
    unknown = []
    for name in wanted:
        hit = pairs[(pairs["family"] == name) | (pairs["dimension"] == name)]
        if hit.empty:
            unknown.append(name)
        out += [p for p in hit.itertuples(index=False, name=None) if p not in out]
    if unknown:
        fams = sorted(pairs["family"].unique())
        raise InputError(
            f"--scores: {', '.join(unknown)} not in the profiles. Families: {', '.join(fams)}; "
            f"dimensions: {', '.join(pairs['dimension'])}."
        )
    return out


def _memberships(con: duckdb.DuckDBPyConnection, col: str, period: str | None,
                 group_cols: set[str]) -> pd.DataFrame:
    """(user_id, period, grp, n_posts): each user's group per partition and posts in it."""
    c = quote_ident(col)
    pexpr = "strftime(created_at, ?)" if period else "NULL::VARCHAR"
    where = "WHERE created_at IS NOT NULL" if period else ""
    params = [PERIOD_FORMATS[period]] if period else []
    if col in group_cols:
        sql = f"""
        WITH m AS (SELECT user_id, {pexpr} AS period, {c} AS grp FROM messages {where}),
        posts AS (SELECT user_id, period, count(*) AS n_posts FROM m GROUP BY ALL),
        votes AS (SELECT user_id, period, grp, count(*) AS n FROM m WHERE grp IS NOT NULL
                  GROUP BY ALL),
        modal AS (SELECT user_id, period, grp FROM votes QUALIFY row_number() OVER
                  (PARTITION BY user_id, period ORDER BY n DESC, grp) = 1)
        SELECT modal.user_id, modal.period, modal.grp, posts.n_posts
        FROM modal JOIN posts ON modal.user_id = posts.user_id
            AND modal.period IS NOT DISTINCT FROM posts.period
        """
    else:
        sql = f"""
        WITH posts AS (SELECT user_id, {pexpr} AS period, count(*) AS n_posts FROM messages
                       {where} GROUP BY ALL)
        SELECT o.user_id, p.period, CAST(o.{c} AS VARCHAR) AS grp,
               coalesce(p.n_posts, 0) AS n_posts
        FROM outcomes o {'JOIN' if period else 'LEFT JOIN'} posts p ON o.user_id = p.user_id
        WHERE o.{c} IS NOT NULL
        """
    df = con.execute(sql, params).df()
    if col not in group_cols and not period:
        df["period"] = None
    return df


def _file_weights(ws: Workspace, path: Path) -> pd.Series:
    df = read_table_file(Path(path))
    missing = [c for c in ("user_id", "weight") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: columns user_id,weight needed; found "
                         f"{', '.join(map(str, df.columns))}.")
    w = pd.to_numeric(df["weight"], errors="coerce")
    bad = np.flatnonzero(~(w > 0) | ~np.isfinite(w.to_numpy(float)))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{path}, row {i + 2}: weight '{df['weight'].iloc[i]}' is not a number "
                         f"> 0 ({len(bad)} such rows); fix or remove them.")
    pseudo = ws.pseudonymizer("user")
    ids = [pseudo(str(u).strip()) for u in df["user_id"]]
    s = pd.Series(w.to_numpy(float), index=pd.Index(ids, name="user_id"))
    dup = int(s.index.duplicated().sum())
    if dup:
        raise InputError(f"{path}: {dup} users appear more than once; give one weight per user.")
    return s


def check_out_path(out: str | Path | None) -> Path | None:
    """``out`` if a table can be written there (suffix and folder), else a clear error,
    raised before anything is computed or recorded."""
    if out is None:
        return None
    path = Path(out)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"{path}: --out must end in .csv or .parquet.")
    if not path.parent.is_dir():
        raise InputError(f"{path}: --out folder {path.parent} does not exist; create it first "
                         "(nothing was released or recorded).")
    return path


# ---------------------------------------------------------------- the study

@dataclass(frozen=True)
class StudyOptions:
    """What a group study computes; the options of ``psyprofile study`` map one to one.

    ``by``: group columns (message group columns or outcome columns), each analysed on its
    own; ``period``: 'day', 'week' or 'month' adds per-period rows (trends: users scored on
    their posts of the period, with at least ``min_period_words`` words, default from the
    study config) besides the whole-history rows (period NULL); ``scores``: families or
    dimension names; ``min_users``: suppression threshold (default and floor: the
    workspace's ``min_group_size``; lower only with ``allow_smaller_groups``, recorded);
    ``weight_by``: 'users' (equal) or 'posts'; ``weights``: CSV user_id,weight (raw ids),
    trimmed to ``max_weight_ratio``; ``poststratify``/``strata``: margins CSV and the strata
    raked to; ``dp_epsilon``: total ε of a differentially private release, with
    ``dp_bounds`` {dimension or family: (lo, hi)}, finite; ``seed`` and ``n_boot``: the
    bootstrap's seed and resamples per group.
    """

    by: tuple[str, ...]
    period: str | None = None
    scores: tuple[str, ...] = ("big5", "wellbeing", "emotions", "age")
    min_users: int | None = None
    allow_smaller_groups: bool = False
    min_period_words: int | None = None
    weight_by: str = "users"
    weights: str | Path | None = None
    max_weight_ratio: float = MAX_WEIGHT_RATIO
    poststratify: str | Path | None = None
    strata: tuple[str, ...] = ()
    dp_epsilon: float | None = None
    dp_bounds: dict[str, tuple[float, float]] | None = None
    seed: int = 0
    n_boot: int = 1000

    def __post_init__(self) -> None:
        # a bare string is one column, not its letters; lists become tuples (compare by value)
        for name in ("by", "scores", "strata"):
            value = getattr(self, name) or ()
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))


def run_study(
    ws: Workspace,
    options: StudyOptions,
    *,
    out: str | Path | None = None,
    engine: Any = None,
    progress: bool = True,
) -> StudyResult:
    """Group means/medians with bootstrap CIs of profile scores (:class:`StudyOptions`),
    stored as a new study run.

    ``out``: a .csv/.parquet written before the run is recorded (if it cannot be written,
    nothing is recorded); ``engine``: an engine with ``map(fn, items, desc=)`` (contract C3)
    for the bootstraps.
    """
    o = options
    if not o.by:
        raise InputError("--by: name at least one group column.")
    if o.period is not None and o.period not in PERIOD_FORMATS:
        raise InputError(f"--period must be one of {', '.join(PERIOD_FORMATS)} (got '{o.period}').")
    if o.weight_by not in ("users", "posts"):
        raise InputError(f"--weight-by must be 'users' or 'posts' (got '{o.weight_by}').")
    if bool(o.poststratify) != bool(o.strata):
        raise InputError("--poststratify CSV and --strata COLS go together; give both.")
    if o.dp_epsilon is not None:
        if not (o.dp_epsilon > 0 and np.isfinite(o.dp_epsilon)):
            raise InputError(f"--dp-epsilon must be a finite number > 0 (got {o.dp_epsilon}).")
        if o.weights or o.poststratify or o.weight_by != "users":
            raise InputError("--dp-epsilon releases equally weighted means only; drop --weights, "
                             "--poststratify and --weight-by posts for a DP release.")
    floor = ws.min_group_size()
    k = int(o.min_users if o.min_users is not None else floor)
    if k < 2:
        raise InputError(f"--min-users must be at least 2 (got {k}).")
    if k < floor and not o.allow_smaller_groups:
        raise InputError(f"--min-users {k} is below the study's min_group_size {floor} "
                         "(psyprofile.toml); groups that small are not released unless you "
                         "add --allow-smaller-groups, which is recorded with the run.")
    out_path = check_out_path(out)

    results: dict[str, Any] = {"excluded": {}}
    with ws.connect() as con:
        profile = _profiles(con, ws.path)
        group_cols = {r[0] for r in con.execute("SELECT name FROM group_columns").fetchall()}
        outcomes = outcome_columns(con)
        unknown = [c for c in o.by if c not in group_cols and c not in outcomes]
        if unknown:
            raise InputError(
                f"--by: no column {', '.join(unknown)}. Message group columns: "
                f"{', '.join(sorted(group_cols)) or 'none'}; outcome columns: "
                f"{', '.join(outcomes) or 'none'}."
            )
        pairs = resolve_scores(profile, list(o.scores))
        members = {col: [_memberships(con, col, None, group_cols)]
                   + ([_memberships(con, col, o.period, group_cols)] if o.period else [])
                   for col in o.by}
        profiled = pd.Index(profile["user_id"].unique())
        for col in o.by:
            grouped = members[col][0]["user_id"]
            results["excluded"][f"no_{col}"] = int((~profiled.isin(grouped)).sum())
        wide = profile.pivot_table(index="user_id", columns="dimension", values="value")
        user_w = _user_weights(ws, con, wide, o.weights, o.poststratify, o.strata,
                               o.max_weight_ratio, results)
        bounds = dp.resolve_bounds(pairs, o.dp_bounds) if o.dp_epsilon is not None else {}
        ledger = Ledger.load(con, k)
    tables = {None: wide}
    if o.period:
        tables.update(_period_tables(ws, o.period, [d for _, d in pairs], o.min_period_words,
                                     progress, results))
    if user_w is not None:
        tables = {p: t.loc[t.index.intersection(user_w.index)] for p, t in tables.items()}
    rows, tasks = _plan(o.by, members, tables, pairs, user_w, o.weight_by, ledger, o.seed,
                        o.n_boot)
    results["audit"] = {"seconds": round(ledger.seconds, 4), "checks": ledger.audits}
    plan = None
    if o.dp_epsilon is not None:
        n_parts = len({(r["by"], r["period"]) for r in rows})
        plan = dp.BudgetPlan(o.dp_epsilon, max(n_parts, 1), len(pairs))
        _fill_dp(rows, tasks, plan, bounds)
    else:
        _fill_bootstrap(rows, tasks, engine, progress)
    groups = pd.DataFrame(rows, columns=GROUP_COLUMNS)
    comps = (_comparisons(groups, tasks) if o.dp_epsilon is None
             else pd.DataFrame(columns=COMPARISON_COLUMNS))
    if user_w is not None:
        results["ess"] = raking.kish_ess(user_w.loc[wide.index].to_numpy())
        results["n_weighted"] = int(len(tables[None]))
    n_users = int(len(tables[None]))
    params = {"by": list(o.by), "period": o.period, "scores": [d for _, d in pairs],
              "min_users": k, "min_group_size": floor,
              "allow_smaller_groups": bool(o.allow_smaller_groups and k < floor),
              "min_period_words": results.get("min_period_words"),
              "weight_by": o.weight_by, "weights": str(o.weights) if o.weights else None,
              "max_weight_ratio": o.max_weight_ratio if user_w is not None else None,
              "poststratify": str(o.poststratify) if o.poststratify else None,
              "strata": list(o.strata or []), "dp_epsilon": o.dp_epsilon,
              "dp_bounds": {d: list(b) for d, b in bounds.items()} or None,
              "seed": o.seed, "n_boot": o.n_boot, "out": str(out_path) if out_path else None,
              "results": results}
    with ws.connect() as con:
        run_id = _store(con, params, n_users if n_users >= k else None, groups, comps,
                        ledger, plan, out_path)
    return read_study(ws, run_id)


def _period_tables(ws: Workspace, period: str, dims: list[str], min_words: int | None,
                   progress: bool, results: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Per period: users (sorted index) x dimensions scored on their posts of the period."""
    from psyprofile.profiles.periods import period_scores

    ps = period_scores(ws, period, dims, min_words=min_words, progress=progress)
    results["min_period_words"] = ps.min_words
    results["excluded"][f"{period}s_under_min_words"] = ps.skipped
    if ps.unscored:
        results["no_period_scores"] = ps.unscored
    results["trend"] = (f"each user scored on their own posts of each {period}; min "
                        f"{ps.min_words:,} words per user-{period}")
    out = {}
    for per, part in ps.scores.groupby("period", sort=True):
        out[str(per)] = part.pivot_table(index="user_id", columns="dimension", values="value")
    return out


def _user_weights(ws: Workspace, con: duckdb.DuckDBPyConnection, wide: pd.DataFrame,
                  weights: str | Path | None, poststratify: str | Path | None,
                  strata: Sequence[str], max_ratio: float,
                  results: dict[str, Any]) -> pd.Series | None:
    """Each included user's weight (mean 1, trimmed to ``max_ratio``), or None when users
    are weighted equally. ``wide`` is the profile, users (sorted index) × dimensions."""
    if not weights and not poststratify:
        return None
    users = wide.index
    base = pd.Series(1.0, index=users)
    if weights:
        fw = _file_weights(ws, Path(weights))
        results["excluded"]["no_weight"] = int((~users.isin(fw.index)).sum())
        users = users[users.isin(fw.index)]
        base = fw.reindex(users)
    if poststratify:
        margins = raking.read_margins(poststratify, list(strata or []))
        sv = raking.strata_values(con, users, wide, margins, str(poststratify))
        results["strata_known"], results["strata_estimated"] = sv.known, sv.estimated
        ok = sv.levels.notna().all(axis=1)
        results["excluded"]["no_stratum_level"] = int((~ok).sum())
        users = users[ok.to_numpy()]
        w = raking.rake(sv.levels.loc[users], margins, base.reindex(users).to_numpy(),
                        where=str(poststratify))
    else:
        w = base.to_numpy(float)
    w, results["weights_trimmed"] = raking.cap_ratio(w, max_ratio)
    return pd.Series(w, index=users)


def _elements(ids: np.ndarray, per: str | None, posts: np.ndarray,
              total_posts: pd.Series) -> np.ndarray:
    """Ledger elements of users: the user id for a whole-history value, ``user@period`` for
    a period value, except where the period holds all of the user's posts (same value)."""
    if per is None:
        return ids
    whole = total_posts.reindex(ids).to_numpy(float) == posts
    return np.where(whole, ids, np.char.add(ids.astype(str), "@" + per))


def _plan(by: Sequence[str], members: dict[str, list[pd.DataFrame]],
          tables: dict[str | None, pd.DataFrame], pairs: list[tuple[str, str]],
          user_w: pd.Series | None, weight_by: str, ledger: Ledger, seed: int,
          n_boot: int) -> tuple[list[dict], dict[int, tuple]]:
    """Group rows (numbers empty) with suppression decided, and bootstrap items by row index.

    ``tables`` maps period (None: whole history) to users (sorted index) × dimensions.
    """
    rows: list[dict] = []
    tasks: dict[int, tuple] = {}
    parts: list[Partition] = []
    pending: list[tuple] = []  # per partition: family, values, group positions, weights, posts
    empty = pd.DataFrame(columns=tables[None].columns, dtype=float)
    for col in by:
        whole_frame = members[col][0]
        total_posts = whole_frame.set_index("user_id")["n_posts"].astype(float)
        for frame in members[col]:
            for per, part in frame.groupby("period", dropna=False, sort=True):
                per = None if pd.isna(per) else str(per)
                table = tables.get(per, empty)
                ids_all = table.index.to_numpy().astype(str)
                values = table.to_numpy(float)
                column = {d: j for j, d in enumerate(table.columns)}
                uw = (np.ones(len(ids_all)) if user_w is None
                      else user_w.reindex(table.index).to_numpy(float))
                pos = table.index.get_indexer(part["user_id"])
                keep = pos >= 0
                # users in sorted order: the bootstrap draws positions, so order is part of
                # the seeded result
                order = np.argsort(pos[keep], kind="stable")
                pos = pos[keep][order]
                grp = part["grp"].to_numpy()[keep][order].astype(str)
                posts = part["n_posts"].to_numpy()[keep][order].astype(float)
                elems = _elements(ids_all[pos], per, posts, total_posts)
                names, codes = np.unique(grp, return_inverse=True)
                # each group's positions (ascending), found once for all scores
                by_code = np.argsort(codes, kind="stable")
                sizes = np.bincount(codes, minlength=len(names))
                members_of = [by_code[e - n:e]
                              for e, n in zip(np.cumsum(sizes), sizes, strict=True)]
                for fam, dim in pairs:
                    if dim not in column:
                        continue
                    x_all = values[pos, column[dim]] if len(pos) else np.zeros(0)
                    ok = ~np.isnan(x_all)
                    idx = {g: m[ok[m]] for g, m in zip(names, members_of, strict=True)}
                    idx = {g: i for g, i in idx.items() if len(i)}
                    w = {g: (posts[i] if weight_by == "posts" else 1.0) * uw[pos[i]]
                         for g, i in idx.items()}
                    # a weighted group counts by its effective size
                    small = {g for g, wi in w.items()
                             if not np.all(wi == wi[0]) and raking.kish_ess(wi) < ledger.k}
                    parts.append(Partition(col, per, dim, {g: frozenset(elems[i])
                                                           for g, i in idx.items()}, small))
                    pending.append((fam, x_all, idx, w, posts))
    # the whole release is audited at once, with everything released before
    for part, out, (fam, x_all, idx, w, posts) in zip(parts, ledger.decide_all(parts), pending,
                                                      strict=True):
        col, per, dim = part.by, part.period, part.score
        for g, i in idx.items():
            row = dict.fromkeys(GROUP_COLUMNS)
            row.update(by=col, grp=g, period=per, family=fam, score=dim, suppressed=g in out,
                       dp=False)
            if g not in out:
                row.update(n_users=len(i), n_posts=int(posts[i].sum()))
                tasks[len(rows)] = (x_all[i], w[g], n_boot, group_seed(seed, col, per, dim, g))
            rows.append(row)
    return rows, tasks


def bootstrap_batch(items: list[tuple]) -> list[tuple[float, ...]]:
    """:func:`bootstrap_stats` of several groups (one engine partition)."""
    return [bootstrap_stats(item) for item in items]


def _fill_bootstrap(rows: list[dict], tasks: dict[int, tuple], engine: Any,
                    progress: bool, batch: int = 64) -> None:
    keys = list(tasks)
    # Batches keep the per-partition overhead of process and Dask engines small; each
    # group's generator is seeded from its own key, so batching cannot change a result.
    batches = [[tasks[i] for i in keys[j:j + batch]] for j in range(0, len(keys), batch)]
    if engine is not None:
        out: Iterable = engine.map(bootstrap_batch, batches, desc="bootstrap",
                                   progress=progress, total=len(batches))
    else:
        from tqdm.auto import tqdm

        out = map(bootstrap_batch, tqdm(batches, desc="bootstrap", unit="batch",
                                        disable=not progress or len(batches) < 4))
    flat = [r for part in out for r in part]
    for i, stats in zip(keys, flat, strict=True):
        mean, median, lo, hi = (round_value(v) for v in stats)
        rows[i].update(mean=mean, median=median, ci_lo=lo, ci_hi=hi)


def _fill_dp(rows: list[dict], tasks: dict[int, tuple], plan: dp.BudgetPlan,
             bounds: dict[str, tuple[float, float]]) -> None:
    eps = plan.per_query
    counts: dict[tuple, int] = {}
    for i, (x, _w, _b, _e) in tasks.items():
        r = rows[i]
        key = (r["by"], r["period"], r["grp"])
        # one noisy count per group and partition, shared by its scores
        if key not in counts:
            counts[key] = dp.dp_count(r["n_users"], eps)
        m = dp.dp_mean(x, bounds[r["score"]], eps, counts[key], eps)
        r.update(n_users=counts[key], n_posts=None, dp=True, mean=m.mean, ci_lo=m.lo,
                 ci_hi=m.hi, noise_scale=m.scale, n_noise_scale=dp.count_scale(eps))


def _comparisons(groups: pd.DataFrame, tasks: dict[int, tuple]) -> pd.DataFrame:
    """Pairwise d (Welch p) and omnibus η² (ANOVA p) among released whole-history groups,
    rounded like the group numbers (3 significant digits)."""
    out = []
    whole = groups[groups["period"].isna() & ~groups["suppressed"]]
    for (col, score), g in whole.groupby(["by", "score"], sort=False):
        vals = {r.grp: tasks[i][0] for i, r in zip(g.index, g.itertuples(), strict=True)}
        names = sorted(vals)
        summ = {n: compare.Summary.of(vals[n]) for n in names}
        for a, b in combinations(names, 2):
            d, lo, hi = compare.cohen_d(summ[a], summ[b])
            out.append([col, score, a, b, "d", d, lo, hi, compare.welch_p(summ[a], summ[b])])
        if len(names) >= 3:
            e, lo, hi, p = compare.eta_squared([vals[n] for n in names])
            out.append([col, score, None, None, "eta2", e, lo, hi, p])
    df = pd.DataFrame(out, columns=COMPARISON_COLUMNS[:-1])
    df["q"] = compare.bh_fdr(df["p"].to_numpy()) if len(df) else []
    for c in ("estimate", "ci_lo", "ci_hi", "p", "q"):
        df[c] = df[c].map(round_value)
    return df


def _store(con: duckdb.DuckDBPyConnection, params: dict, n_users: int | None,
           groups: pd.DataFrame, comps: pd.DataFrame, ledger: Ledger,
           plan: dp.BudgetPlan | None, out: Path | None) -> int:
    """Record the run, its ledger sets and its budget in one transaction, writing ``out``
    before the commit: if the file cannot be written, nothing is recorded."""
    con.execute("BEGIN")
    try:
        run_id = int(scalar(con, "SELECT coalesce(max(run_id), 0) + 1 FROM study_runs"))
        if plan is not None:
            params["results"]["release_id"] = dp.record_release(con, run_id, plan)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        con.execute("INSERT INTO study_runs VALUES (?, ?, ?, ?)",
                    [run_id, now, json.dumps(params), n_users])
        g = groups.assign(run_id=run_id)[["run_id", *GROUP_COLUMNS]]
        c = comps.assign(run_id=run_id)[["run_id", *COMPARISON_COLUMNS]]
        for name, df in (("study_groups", g), ("study_comparisons", c)):
            if len(df):
                cols = ", ".join(quote_ident(x) for x in df.columns)
                con.register("_new_rows", df)
                con.execute(f"INSERT INTO {quote_ident(name)} ({cols}) SELECT {cols} "
                            "FROM _new_rows")
                con.unregister("_new_rows")
        ledger.store(con, run_id)
        if out is not None:
            export_groups(groups, out)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    try:
        con.execute("COMMIT")
    except BaseException:
        if out is not None:
            out.unlink(missing_ok=True)
        raise
    return run_id


def read_study(ws: Workspace, run_id: int | None = None) -> StudyResult:
    """A stored study run (the latest when ``run_id`` is None)."""
    with ws.connect(read_only=True) as con:
        run_id = pick_study_run(con, ws.path, run_id)
        if run_id is None:
            raise PsyprofileError(f"{ws.path}: no group study yet; run "
                                  f"`psyprofile study {ws.path} --by COLUMN` first.")
        params = scalar(con, "SELECT params FROM study_runs WHERE run_id = ?", [run_id])
        groups = read_study_groups(con, run_id)
        comps = read_study_comparisons(con, run_id)
        budget = dp.read_budget(con)
    return StudyResult(int(run_id), json.loads(params), groups, comps, budget)


def export_groups(groups: pd.DataFrame, path: str | Path) -> None:
    """Write one row per group x score to a .csv or .parquet ``path`` (``grp`` as ``group``).

    DP rows carry ``noise_scale`` (Laplace scale of the mean's noise) and ``n_noise_scale``
    (of the count's), and ``ci_lo, ci_hi`` is then the noise interval.
    """
    path = check_out_path(path)
    cols = ["grp", "score", "n_users", "mean", "ci_lo", "ci_hi", "suppressed", "period",
            "median", "n_posts", "by", "family", "dp", "noise_scale", "n_noise_scale"]
    out = groups[cols].rename(columns={"grp": "group"})
    try:
        if path.suffix.lower() == ".parquet":
            out.to_parquet(path, index=False)
        else:
            out.to_csv(path, index=False)
        from psyprofile.store import codebook as cb

        cb.write_codebook(path, cb.codebook_frame(list(out.columns), cb.frame_types(out),
                                                  GROUPS_CODEBOOK))
    except OSError as exc:
        raise InputError(f"{path}: cannot write --out ({exc.strerror or exc}); nothing was "
                         "released or recorded.") from None


_STAT = {"unit": "the score's unit (see the profile codebook)", "source": "psyprofile study"}
#: the codebook of :func:`export_groups` (see :mod:`psyprofile.store.codebook`)
GROUPS_CODEBOOK = {
    "group": {"source": "the --by column", "description": "the group"},
    "score": {"source": "psyprofile profile", "description": "the profile dimension"},
    "n_users": {"unit": "users", "source": "psyprofile study",
                "description": "users in the group (DP: noisy count)"},
    "mean": {**_STAT, "description": "mean of the users' scores (weighted if asked; DP: noisy)"},
    "ci_lo": {**_STAT, "description": "lower end of the 95% bootstrap CI over users (DP: "
                                      "of the noise)"},
    "ci_hi": {**_STAT, "description": "upper end of the 95% bootstrap CI over users (DP: "
                                      "of the noise)"},
    "suppressed": {"source": "psyprofile study",
                   "description": "true: withheld (group under the minimum size, or a "
                                  "difference with an earlier release would reveal one)"},
    "period": {"source": "--period", "description": "day, week or month; empty: whole history"},
    "median": {**_STAT, "description": "weighted median of the users' scores"},
    "n_posts": {"unit": "posts", "source": "psyprofile study", "description": "posts of "
                                                                              "the group's users"},
    "by": {"source": "--by", "description": "the group column"},
    "family": {"source": "psyprofile profile", "description": "the score's family (big5, ...)"},
    "dp": {"source": "--dp-epsilon", "description": "true: differentially private values"},
    "noise_scale": {**_STAT, "description": "Laplace scale of the mean's noise (DP)"},
    "n_noise_scale": {"unit": "users", "source": "--dp-epsilon",
                      "description": "scale of the count's discrete Laplace noise (DP)"},
}


def pick_study_run(con: duckdb.DuckDBPyConnection, where: Path | str,
                   run_id: int | None) -> int | None:
    """Stored group study ``run_id``, or the latest when it is None (None before the first
    study). Raises :class:`PsyprofileError` naming the stored runs when ``run_id`` is not one
    of them; ``where`` (the study's path) heads the message."""
    runs = [r[0] for r in con.execute("SELECT run_id FROM study_runs ORDER BY 1").fetchall()]
    if run_id is None:
        return runs[-1] if runs else None
    if run_id not in runs:
        raise PsyprofileError(
            f"{where}: no group study run {run_id} (runs: {', '.join(map(str, runs)) or 'none'}). "
            "Leave the run out (`--run` on the command line) for the latest, or run `psyprofile "
            "study` first.")
    return run_id


def read_study_runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every stored group study by run id: ``run_id, created_at, params`` (parsed JSON) and
    ``n_users``; no rows before the first study."""
    runs = con.execute("SELECT run_id, created_at, params, n_users FROM study_runs "
                       "ORDER BY run_id").df()
    runs["params"] = [json.loads(p) if p else {} for p in runs["params"]]
    return runs


def read_study_groups(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """The group rows (:data:`GROUP_COLUMNS`) of study run ``run_id``, overall rows first."""
    cols = ", ".join(quote_ident(c) for c in GROUP_COLUMNS)
    return con.execute(f"SELECT {cols} FROM study_groups WHERE run_id = ? ORDER BY "
                       f"{quote_ident('by')}, period NULLS FIRST, score, grp", [run_id]).df()


def read_study_comparisons(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """The group comparisons (:data:`COMPARISON_COLUMNS`) of study run ``run_id``."""
    cols = ", ".join(quote_ident(c) for c in COMPARISON_COLUMNS)
    return con.execute(f"SELECT {cols} FROM study_comparisons WHERE run_id = ? ORDER BY "
                       f"{quote_ident('by')}, score, effect, group_a, group_b", [run_id]).df()
