"""``psyprofile validity``: how well the language profile agrees with questionnaires.

Reads ``profile_scores`` (written by ``psyprofile profile``) and the numeric ``outcomes``.
A questionnaire outcome *matches* a profile dimension when its name ends in ``_<dimension>``
(``ipip50_extraversion`` matches ``extraversion``; ``psyprofile survey`` names its outcomes
so). The report has three parts:

convergent
    one row per matched (dimension, outcome): Pearson r over the users with both scores,
    n, a 95% CI from Fisher's z (tanh(atanh r ± 1.96 / sqrt(n − 3))) and the two-sided p.
pairs (the multitrait–multimethod table)
    Pearson r, n and CI for every language dimension × every survey trait (``block``
    ``convergent`` for a matched pair, ``heteromethod`` otherwise), and within each method for
    the traits measured by both (``language``: matched dimensions; ``survey``: survey traits).
    Survey traits are the outcomes that match a dimension, plus any outcome named
    ``<inventory>_<trait>`` by ``psyprofile survey``.
split_half
    for every dimension, the reliability of the language score from
    :func:`psyprofile.profiles.reliability.split_half` (odd vs even messages,
    Spearman–Brown corrected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.store.db import table_exists
from psyprofile.store.outcomes import outcome_columns, read_outcomes
from psyprofile.store.workspace import Workspace
from psyprofile.survey.inventories import INVENTORIES, TRAITS

PAIR_COLUMNS = ["block", "a", "method_a", "b", "method_b", "n", "r", "ci_lo", "ci_hi", "p"]


def pearson_ci(x: np.ndarray, y: np.ndarray) -> tuple[int, float, float, float, float]:
    """``(n, r, ci_lo, ci_hi, p)`` of Pearson's r over the pairs where both are finite.

    The 95% CI is Fisher's z interval; r is NaN with fewer than 3 pairs or a constant
    variable, the CI NaN with fewer than 4 pairs.
    """
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(ok.sum())
    nan = float("nan")
    if n < 3 or np.std(x) == 0 or np.std(y) == 0:
        return n, nan, nan, nan, nan
    res = stats.pearsonr(x, y)
    r, p = float(res.statistic), float(res.pvalue)
    if abs(r) == 1.0:
        return n, r, r, r, 0.0
    if n < 4:
        return n, r, nan, nan, p
    ci = res.confidence_interval(0.95)  # Fisher's z
    return n, r, float(ci.low), float(ci.high), p


@dataclass
class ValidityReport:
    """The three parts of the validity report (see the module doc), as DataFrames."""

    n_users: int
    dimensions: pd.DataFrame  # family, dimension, n_users, source
    convergent: pd.DataFrame  # family, dimension, outcome, n, r, ci_lo, ci_hi, p
    pairs: pd.DataFrame  # PAIR_COLUMNS
    split_half: pd.DataFrame | None  # family, dimension, n_users, r_halves, reliability, ci_lo, ci_hi
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """All three parts in one long table, ``section`` telling them apart (for --out)."""
        conv = self.convergent.assign(section="convergent", method_a="language",
                                      method_b="survey", block="convergent")
        conv = conv.rename(columns={"dimension": "a", "outcome": "b"})
        parts = [conv, self.pairs.assign(section="mtmm")]
        if self.split_half is not None and len(self.split_half):
            sh = self.split_half.rename(columns={"dimension": "a", "n_users": "n",
                                                 "reliability": "r"})
            parts.append(sh.assign(section="split_half", method_a="language"))
        cols = ["section", "family", *PAIR_COLUMNS, "r_halves"]
        return pd.concat([p.reindex(columns=cols) for p in parts], ignore_index=True)

    def summary(self) -> str:
        lines = [f"profiles of {self.n_users:,} users, {len(self.dimensions)} dimensions"]
        lines += [f"  note: {n}" for n in self.notes]
        if len(self.convergent):
            lines += ["", "convergent validity (language score vs questionnaire):",
                      f"  {'dimension':<22}{'outcome':<30}{'n':>6}{'r':>8}   95% CI"]
            for c in self.convergent.itertuples():
                lines.append(f"  {c.dimension:<22}{c.outcome:<30}{c.n:>6,}{_f(c.r):>8}   "
                             f"[{_f(c.ci_lo)}, {_f(c.ci_hi)}]")
            lines += ["", *self._matrix()]
        if self.split_half is not None and len(self.split_half):
            lines += ["", "split-half reliability of the language scores (odd vs even messages, "
                      "Spearman-Brown):",
                      f"  {'family':<11}{'dimension':<24}{'users':>7}{'r halves':>10}"
                      f"{'reliability':>13}   95% CI"]
            for s in self.split_half.itertuples():
                lines.append(f"  {s.family:<11}{s.dimension:<24}{s.n_users:>7,}"
                             f"{_f(s.r_halves):>10}{_f(s.reliability):>13}   "
                             f"[{_f(s.ci_lo)}, {_f(s.ci_hi)}]")
        return "\n".join(lines)

    def _matrix(self) -> list[str]:
        """The heteromethod block for matched dimensions as a grid, with Campbell–Fiske counts."""
        het = self.pairs[self.pairs["block"].isin(["convergent", "heteromethod"])]
        rows = list(dict.fromkeys(self.convergent["dimension"]))
        cols = list(dict.fromkeys(self.pairs.loc[self.pairs["method_b"] == "survey", "b"]))
        grid = het[het["a"].isin(rows)].pivot_table(index="a", columns="b", values="r",
                                                     aggfunc="first")
        width = max(8, *(len(c) for c in cols)) + 1 if cols else 9
        out = ["multitrait-multimethod, language (rows) x survey (columns), Pearson r "
               "(* = same trait):", "  " + " " * 22 + "".join(f"{c:>{width}}" for c in cols)]
        for d in rows:
            cells = []
            for c in cols:
                v = grid.at[d, c] if d in grid.index and c in grid.columns else np.nan
                cells.append(f"{_f(v) + ('*' if c.endswith('_' + d) else ' '):>{width}}")
            out.append(f"  {d:<22}" + "".join(cells))
        beat, total = self._campbell_fiske(het)
        if total:
            out.append(f"  each convergent r exceeds {beat} of the {total} heterotrait-heteromethod "
                       "r in its row and column (Campbell & Fiske's first discriminant check)")
        return out

    def _campbell_fiske(self, het: pd.DataFrame) -> tuple[int, int]:
        beat = total = 0
        for c in self.convergent.itertuples():
            if np.isnan(c.r):
                continue
            others = het[((het["a"] == c.dimension) | (het["b"] == c.outcome))
                         & (het["block"] == "heteromethod")]
            matched = others[others["a"].isin(self.convergent["dimension"])]["r"].dropna()
            total += len(matched)
            beat += int((c.r > matched).sum())
        return beat, total

    def to_csv(self, path: str | Path) -> int:
        """Write :meth:`table` to ``path`` (CSV); returns the rows written."""
        t = self.table()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        t.to_csv(path, index=False)
        return len(t)


def _f(v: float) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.3f}"


def read_profile_scores(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Profile values as users × dimensions, and ``family, dimension, n_users`` per dimension."""
    with ws.connect(read_only=True) as con:
        has = table_exists(con, "profile_scores")
        if has:
            long = con.execute("SELECT user_id, family, dimension, value, source "
                               "FROM profile_scores WHERE value IS NOT NULL").df()
    if not has or long.empty:
        raise PsyprofileError(
            f"{ws.path}: no profiles yet (table profile_scores is empty or missing). "
            f"Score the users first with `psyprofile profile {ws.path}`."
        )
    wide = long.pivot_table(index="user_id", columns="dimension", values="value", aggfunc="first")
    dims = (long.groupby(["family", "dimension"], sort=False)
            .agg(n_users=("user_id", "nunique"), source=("source", "first")).reset_index())
    return wide, dims


def _trained_on(ws: Workspace, source: str) -> str | None:
    """The outcome a saved model (profile source ``model:NAME``) was trained on, if known."""
    from psyprofile.models.persist import read_spec, resolve

    if not source.startswith("model:"):
        return None
    try:
        return read_spec(resolve(source.removeprefix("model:"), ws)).get("outcome")
    except PsyprofileError:
        return None


def _survey_outcomes(ws: Workspace, dimensions: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Numeric questionnaire outcomes (users × outcomes) and outcome -> matched dimension."""
    with ws.connect(read_only=True) as con:
        numeric = [c for c, t in outcome_columns(con).items() if t in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER")]
        match: dict[str, str] = {}
        survey: list[str] = []
        for c in numeric:
            if c in dimensions:  # an outcome named like a dimension is not a questionnaire score
                continue
            # The longest matching dimension wins, so `_pos_p` never steals `_perma_pos_p`.
            hits = sorted((d for d in dimensions if c.endswith("_" + d)), key=len, reverse=True)
            if hits:
                match[c] = hits[0]
            if hits or any(c == f"{inv}_{t}" for inv in INVENTORIES for t in TRAITS):
                survey.append(c)
        if not survey:
            return pd.DataFrame(), match
        df = read_outcomes(con, survey)
    return df.astype(float), match


def validity_report(ws: Workspace, *, split_half: bool = True, min_words: int | None = None,
                    seed: int = 0, progress: bool = True, spec: Any = None) -> ValidityReport:
    """Convergent validity, the MTMM table and split-half reliability of the study's profiles.

    Raises :class:`PsyprofileError` when there is no profile yet. Without a questionnaire
    outcome the report has a note saying how to add one, and only the split-half part.
    ``min_words``, ``seed``, ``progress`` and ``spec`` (a
    :class:`psyprofile.profiles.spec.ProfileSpec`, default: the profile's default spec) are
    passed to ``split_half``.
    """
    lang, dims = read_profile_scores(ws)
    survey, match = _survey_outcomes(ws, list(lang.columns))
    notes = []
    conv_rows, pair_rows = [], []
    if survey.empty or not match:
        notes.append(
            "no questionnaire outcome matches a profile dimension (an outcome named "
            "<anything>_<dimension>, e.g. ipip50_extraversion), so there is no convergent "
            f"validity to report. Score a questionnaire with `psyprofile survey {ws.path} "
            "responses.csv --inventory ipip50 --user-col ID`, or load scores named that way with "
            "`psyprofile outcomes`."
        )
    if not survey.empty:
        joined = lang.join(survey, how="outer")
        family = dict(zip(dims["dimension"], dims["family"], strict=True))

        def pair(block: str, a: str, ma: str, b: str, mb: str) -> dict:
            n, r, lo, hi, p = pearson_ci(joined[a].to_numpy(float), joined[b].to_numpy(float))
            return {"block": block, "a": a, "method_a": ma, "b": b, "method_b": mb,
                    "n": n, "r": r, "ci_lo": lo, "ci_hi": hi, "p": p}

        for d in lang.columns:
            for s in survey.columns:
                row = pair("convergent" if match.get(s) == d else "heteromethod",
                           d, "language", s, "survey")
                pair_rows.append(row)
                if row["block"] == "convergent":
                    conv_rows.append({"family": family[d], "dimension": d, "outcome": s,
                                      **{k: row[k] for k in ("n", "r", "ci_lo", "ci_hi", "p")}})
        matched = [d for d in lang.columns if d in match.values()]
        pair_rows += [pair("language", a, "language", b, "language") for a, b in combinations(matched, 2)]
        pair_rows += [pair("survey", a, "survey", b, "survey") for a, b in combinations(survey.columns, 2)]
    convergent = pd.DataFrame(conv_rows, columns=["family", "dimension", "outcome", "n", "r",
                                                  "ci_lo", "ci_hi", "p"])
    pairs = pd.DataFrame(pair_rows, columns=PAIR_COLUMNS)
    if len(pairs):
        pairs["family"] = pairs["a"].map(dict(zip(dims["dimension"], dims["family"], strict=True)))
    src = dict(zip(dims["dimension"], dims["source"], strict=True))
    for c in conv_rows:
        if _trained_on(ws, str(src[c["dimension"]])) == c["outcome"]:
            notes.append(
                f"{c['dimension']} comes from {src[c['dimension']]}, trained on {c['outcome']}: "
                "its correlation includes the model's own training users and is optimistic; "
                "the model card's cross-validated r is the fair figure."
            )
    sh = None
    if split_half:
        from psyprofile.profiles.reliability import split_half as run_split_half

        sh = run_split_half(ws, min_words=min_words, seed=seed, progress=progress, spec=spec)
    return ValidityReport(len(lang), dims, convergent, pairs, sh, notes)
