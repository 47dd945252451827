"""``psyprofile survey``: score a questionnaire file into a study.

Reads and validates the responses, scores the traits (reverse keys, missing-item rule),
computes α and ω per trait with bootstrap CIs, flags careless responders, and stores

- the trait scores as outcomes named ``<inventory>_<trait>`` (e.g. ``ipip50_extraversion``,
  prorated item means on the 1..5 scale), ready for ``psyprofile train`` and ``validity``;
- ``survey_scales(inventory, scale, n_items, max_missing, n_scored, mean, sd, n_complete,
  alpha, alpha_lo, alpha_hi, omega, omega_lo, omega_hi, n_boot, seed, created_at)``;
- ``survey_flags(user_id, inventory, n_answered, n_missing, longstring, even_odd,
  flag_longstring, flag_even_odd, careless)``.

Rows of an inventory are replaced when it is scored again. Respondent ids are pseudonymised
with the study key, as ``psyprofile outcomes`` does, so they join the users' posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from psyprofile.errors import InputError
from psyprofile.store.db import quote_ident
from psyprofile.store.outcomes import OutcomeReport, store_outcomes
from psyprofile.store.workspace import Workspace
from psyprofile.survey.careless import EVEN_ODD_MIN, LONGSTRING_MIN, careless_flags
from psyprofile.survey.inventories import Inventory, load_inventory
from psyprofile.survey.reliability import scale_reliability
from psyprofile.survey.responses import Responses, read_responses
from psyprofile.survey.scoring import default_max_missing, keyed, score_traits

MIN_COMPLETE = 10  # complete respondents needed before α and ω are reported at all


@dataclass
class SurveyReport:
    """What ``score_survey`` read, scored and stored."""

    inventory: Inventory
    responses: Responses
    scales: pd.DataFrame  # one row per trait, the columns of survey_scales
    flags: pd.DataFrame  # one row per respondent (raw id index), the columns of survey_flags
    outcomes: OutcomeReport
    excluded_careless: int
    longstring_min: int
    even_odd_min: float

    @property
    def outcome_names(self) -> list[str]:
        return self.outcomes.columns

    def summary(self) -> str:
        r, inv = self.responses, self.inventory
        lines = [
            f"{r.file}: {inv.title} ({inv.name}), {r.rows:,} rows, {len(r.answers):,} respondents",
            f"  skipped: {r.no_user:,} rows without an id, {r.duplicate_user:,} repeated ids "
            "(first kept)",
            f"  answers: {r.unanswered:,} unanswered, {r.invalid:,} invalid treated as unanswered",
            "",
            f"  {'scale':<18}{'items':>6}{'scored':>8}{'mean':>7}{'sd':>6}{'complete':>10}"
            f"{'alpha [95% CI]':>22}{'omega [95% CI]':>22}",
        ]
        for s in self.scales.itertuples():
            lines.append(
                f"  {s.scale:<18}{s.n_items:>6}{s.n_scored:>8,}{_num(s.mean):>7}{_num(s.sd):>6}"
                f"{s.n_complete:>10,}{_ci(s.alpha, s.alpha_lo, s.alpha_hi):>22}"
                f"{_ci(s.omega, s.omega_lo, s.omega_hi):>22}"
            )
        f = self.flags
        lines += [
            "  scores are prorated item means (1..5); alpha and omega use the respondents who",
            f"  answered every item ('complete', at least {MIN_COMPLETE} needed); 95% CIs from "
            f"{int(self.scales['n_boot'].iloc[0]):,} bootstrap resamples",
            "",
            f"  careless: {int(f['careless'].sum()):,} flagged "
            f"(long-string >= {self.longstring_min}: {int(f['flag_longstring'].sum()):,}; "
            f"even-odd < {self.even_odd_min:.2f}: {int(f['flag_even_odd'].sum()):,}), "
            + (f"{self.excluded_careless:,} excluded from the scores" if self.excluded_careless
               else "kept in the scores (--exclude-careless leaves them out)"),
            f"  stored outcomes {', '.join(self.outcome_names)}",
            f"  for {self.outcomes.loaded:,} users ({self.outcomes.not_in_study:,} have no posts in "
            "this study); details in the tables survey_scales and survey_flags",
        ]
        return "\n".join(lines)


def _num(v: float) -> str:
    return "-" if np.isnan(v) else f"{v:.2f}"


def _ci(v: float, lo: float, hi: float) -> str:
    if np.isnan(v):
        return "-"
    return f"{v:.2f} [{lo:.2f}, {hi:.2f}]" if not np.isnan(lo) else f"{v:.2f}"


def score_survey(ws: Workspace, path: str | Path, inventory: str, user_col: str, *,
                 item_cols: str | None = None, max_missing: int | None = None,
                 invalid: str = "error", exclude_careless: bool = False,
                 longstring_min: int = LONGSTRING_MIN, even_odd_min: float = EVEN_ODD_MIN,
                 n_boot: int = 1000, seed: int = 0, progress: bool = True) -> SurveyReport:
    """Score the responses in ``path`` for ``inventory`` and store them in ``ws`` (see module doc).

    ``max_missing`` is the number of unanswered items a scale may have and still be scored
    (default 20% of its items); ``invalid`` is ``"error"`` or ``"missing"``; ``n_boot``
    bootstrap resamples (seeded with ``seed``) give the 95% CIs of α and ω.
    """
    from tqdm.auto import tqdm

    inv = load_inventory(inventory)
    resp = read_responses(path, inv, user_col, item_cols=item_cols, invalid=invalid)
    answers = resp.answers
    if answers.empty:
        raise InputError(f"{path}: no row has a respondent id in column '{user_col}'; "
                         "nothing to score. Fill in the ids, or name the id column with --user-col.")
    flags = careless_flags(inv, answers, longstring_min=longstring_min, even_odd_min=even_odd_min)
    flags.insert(0, "n_answered", answers.notna().sum(axis=1).astype(int))
    flags.insert(1, "n_missing", answers.isna().sum(axis=1).astype(int))
    used = answers[~flags["careless"]] if exclude_careless else answers
    scores = score_traits(inv, used, max_missing=max_missing).reindex(answers.index)
    k = keyed(inv, used)
    rows = []
    for i, trait in enumerate(tqdm(inv.traits, desc="reliability (bootstrap)", disable=not progress)):
        ids = [it.id for it in inv.items_of(trait)]
        rel = scale_reliability(k[ids].to_numpy(), n_boot=n_boot, seed=seed + i,
                                min_n=MIN_COMPLETE)
        s = scores[trait]
        rows.append({
            "inventory": inv.name, "scale": trait, "n_items": len(ids),
            "max_missing": default_max_missing(len(ids)) if max_missing is None else max_missing,
            "n_scored": int(s.notna().sum()), "mean": s.mean(), "sd": s.std(ddof=1),
            "n_complete": rel.n, "alpha": rel.alpha, "alpha_lo": rel.alpha_lo,
            "alpha_hi": rel.alpha_hi, "omega": rel.omega, "omega_lo": rel.omega_lo,
            "omega_hi": rel.omega_hi, "n_boot": n_boot, "seed": seed,
        })
    scales = pd.DataFrame(rows)
    outcomes = _store(ws, inv, scores, scales, flags)
    return SurveyReport(inv, resp, scales, flags, outcomes,
                        int(flags["careless"].sum()) if exclude_careless else 0,
                        longstring_min, even_odd_min)


def _store(ws: Workspace, inv: Inventory, scores: pd.DataFrame, scales: pd.DataFrame,
           flags: pd.DataFrame) -> OutcomeReport:
    """Write outcomes (through ``store_outcomes``, which pseudonymises) and the two survey tables."""
    raw_ids = scores.index.astype(str)
    out = scores.rename(columns={t: f"{inv.name}_{t}" for t in scores.columns})
    out.insert(0, "respondent", raw_ids)
    report = store_outcomes(ws, out.reset_index(drop=True), user_col="respondent",
                            source=f"{inv.name} scores")
    pseudo = ws.pseudonymizer("user")
    fl = flags.copy()
    fl.insert(0, "user_id", [pseudo(u.strip()) for u in raw_ids])
    fl.insert(1, "inventory", inv.name)
    sc = scales.assign(created_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
    with ws.connect() as con:
        con.execute("BEGIN")
        for table, df in (("survey_scales", sc), ("survey_flags", fl.reset_index(drop=True))):
            con.execute(f"DELETE FROM {quote_ident(table)} WHERE inventory = ?", [inv.name])
            con.register("_survey_new", df)
            cols = ", ".join(quote_ident(c) for c in df.columns)
            con.execute(f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM _survey_new")
            con.unregister("_survey_new")
        con.execute("COMMIT")
    return report
