"""``psyprofile study``: group means, CIs, comparisons and trends of user profile scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from psyprofile.cli.engine_options import EngineChoice, engine_options
from psyprofile.cli.quiet_option import quiet_option
from psyprofile.errors import InputError


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _bounds(values: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    out = {}
    for v in values:
        name, _, rng = v.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise InputError(f"--dp-bounds '{v}': write NAME=LO:HI, e.g. age=13:80.") from None
    return out


def _isnan(x: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def _num(x: Any, digits: int = 3) -> str:
    return "" if _isnan(x) else f"{x:.{digits}g}"


@click.command("study")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--by", "by", multiple=True, required=True,
              help="Group column (repeatable, each analysed on its own): a message group "
                   "column from ingest --group-col, or a per-user outcome column.")
@click.option("--period", type=click.Choice(["day", "week", "month"]),
              help="Also estimate per period for trends: each user scored on their own "
                   "posts of the period.")
@click.option("--min-period-words", type=click.IntRange(min=1),
              help="Words a user needs in a period to be scored in it (default: "
                   "min_period_words, else min_words, of psyprofile.toml).")
@click.option("--scores", default="big5,wellbeing,emotions,age", show_default=True,
              help="Comma-separated profile families or dimension names.")
@click.option("--min-users", type=click.IntRange(min=2),
              help="Suppress groups with fewer users (default and floor: the study's "
                   "min_group_size).")
@click.option("--allow-smaller-groups", is_flag=True,
              help="Let --min-users go below the study's min_group_size (recorded with the "
                   "run and shown in the report).")
@click.option("--weight-by", type=click.Choice(["users", "posts"]), default="users",
              show_default=True, help="Weight users equally, or by their posts.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV user_id,weight of per-user weights (raw ids).")
@click.option("--max-weight-ratio", type=float, default=10.0, show_default=True,
              help="Trim weights so that the largest is at most this times the smallest.")
@click.option("--poststratify", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV stratum,level,share of census margins to rake to.")
@click.option("--strata", help="Comma-separated strata of --poststratify, e.g. age_bin,gender.")
@click.option("--dp-epsilon", type=float,
              help="Release differentially private counts and means with this total epsilon.")
@click.option("--dp-bounds", multiple=True, metavar="NAME=LO:HI",
              help="Bounds a score (dimension or family) is clamped to for DP (repeatable).")
@click.option("--seed", default=0, show_default=True,
              help="Seed of the bootstrap (DP noise is never seeded).")
@click.option("--n-boot", default=1000, show_default=True, help="Bootstrap resamples per group.")
@click.option("--top", default=15, show_default=True,
              help="Pairwise comparisons shown per column (most significant first).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one row per group x score to this .csv or .parquet file.")
@quiet_option
@engine_options
def study(study: Path, by: tuple[str, ...], period: str | None, min_period_words: int | None,
          scores: str, min_users: int | None, allow_smaller_groups: bool, weight_by: str,
          weights: Path | None, max_weight_ratio: float, poststratify: Path | None,
          strata: str | None, dp_epsilon: float | None, dp_bounds: tuple[str, ...], seed: int,
          n_boot: int, top: int, out: Path | None, quiet: bool, engine: EngineChoice) -> None:
    """Group means and medians of profile scores in STUDY, with 95% bootstrap CIs.

    Groups smaller than --min-users are suppressed, and so is whatever would let a small
    group or one user be derived from this release together with every earlier one;
    comparisons report Cohen's d / eta squared with CIs and Benjamini-Hochberg q-values.
    Needs `psyprofile profile STUDY` first. --out is written before the run is recorded.
    """
    from psyprofile.analysis.groups import StudyOptions, check_out_path, run_study
    from psyprofile.cli.study_open import open_study

    check_out_path(out)
    ws = open_study(study)
    with engine.open() as eng:
        res = run_study(ws, StudyOptions(by=list(by), period=period, scores=_csv(scores),
                                         min_users=min_users,
                                         allow_smaller_groups=allow_smaller_groups,
                                         min_period_words=min_period_words, weight_by=weight_by,
                                         weights=weights, max_weight_ratio=max_weight_ratio,
                                         poststratify=poststratify, strata=_csv(strata) or None,
                                         dp_epsilon=dp_epsilon, dp_bounds=_bounds(dp_bounds),
                                         seed=seed, n_boot=n_boot), out=out, engine=eng,
                        progress=not quiet)
    click.echo(render(res, top))
    if out:
        from psyprofile.store.codebook import codebook_path

        click.echo(f"wrote {len(res.groups):,} rows to {out} (codebook: {codebook_path(out)})")


def render(res: Any, top: int = 15) -> str:
    """The readable report of a study run: groups, comparisons, trends, weights and budget."""
    p, k = res.params, res.params["min_users"]
    lines = [f"study run {res.run_id}: scores {', '.join(p['scores'])}; groups with fewer than "
             f"{k} users are suppressed"]
    if p.get("allow_smaller_groups"):
        lines.append(f"OVERRIDE: --allow-smaller-groups lowered the minimum group size from the "
                     f"study's {p['min_group_size']} to {k} (recorded with this run)")
    dp_run = bool(p["dp_epsilon"])
    g = res.groups
    for col in p["by"]:
        whole = g[(g["by"] == col) & g["period"].isna()]
        private = (" - differentially private; [noise 95%] and the Laplace scale of each "
                   "mean's noise" if dp_run else "")
        lines.append(f"\n== by {col} (whole history){private}")
        lines.append(f"{'score':<22} {'group':<20} {'users':>6} {'mean [95% CI]':>28} "
                     f"{'noise scale' if dp_run else 'median':>8} {'posts':>7}")
        for r in whole.itertuples():
            if r.suppressed:
                lines.append(f"{r.score:<22} {str(r.grp)[:20]:<20} suppressed (<{k})")
                continue
            if r.dp:
                lines.append(f"{r.score:<22} {str(r.grp)[:20]:<20} {int(r.n_users):>6} "
                             f"{_num(r.mean) + f' [{_num(r.ci_lo)}, {_num(r.ci_hi)}]':>28} "
                             f"{_num(r.noise_scale, 2):>8}")
                continue
            ci = f" [{_num(r.ci_lo)}, {_num(r.ci_hi)}]" if not _isnan(r.ci_lo) else ""
            lines.append(f"{r.score:<22} {str(r.grp)[:20]:<20} {int(r.n_users):>6} "
                         f"{_num(r.mean) + ci:>28} {_num(r.median):>8} "
                         f"{'' if _isnan(r.n_posts) else int(r.n_posts):>7}")
        lines += _trend_lines(g[(g["by"] == col) & g["period"].notna()], res.results)
        lines += _comparison_lines(res.comparisons[res.comparisons["by"] == col], top)
    if (g["suppressed"]).any():
        lines.append(f"\nsuppressed (<{k}): fewer than {k} users (or an effective sample size "
                     f"under {k} when weighted), or withheld so that no group of fewer than {k} "
                     "users and no single user can be derived from this and earlier releases")
    r = res.results
    if "ess" in r:
        lines.append(f"\nweights: {r['n_weighted']:,} users, Kish effective sample size "
                     f"{r['ess']:.1f}; {r.get('weights_trimmed', 0):,} trimmed to a ratio of "
                     f"{p.get('max_weight_ratio')}")
        if r.get("strata_known") is not None:
            lines.append(f"  strata levels known/estimated: {r['strata_known']} / "
                         f"{r['strata_estimated']}")
    left = {k2: v for k2, v in r.get("excluded", {}).items() if v}
    if left:
        lines.append("users left out: " + ", ".join(f"{v:,} ({k2.replace('_', ' ')})"
                                                   for k2, v in left.items()))
    if p["dp_epsilon"]:
        b = res.budget
        mine = b[b["run_id"] == res.run_id]
        lines.append(f"\nprivacy: this release used epsilon {mine['epsilon'].sum():.4g} "
                     f"({'; '.join(mine['what'])}); the study's running total is "
                     f"{b['epsilon'].sum():.4g} over {b['release_id'].nunique()} release(s)")
        n_scale = g["n_noise_scale"].dropna()
        if len(n_scale):
            lines.append(f"  user counts carry discrete Laplace noise of scale "
                         f"{n_scale.iloc[0]:.3g}; noise intervals cover the noise only, not "
                         "sampling error")
    audit = r.get("audit")
    if audit:
        rounded = ("" if dp_run else "; numbers rounded to 3 significant digits, at most 2 "
                   "decimals")
        lines.append(f"\naudit: this release checked with every earlier one ({audit['checks']} "
                     f"rank audit(s), {audit['seconds']:.2f} s){rounded}")
    lines.append(f"stored as study run {res.run_id} (tables study_groups, study_comparisons)")
    return "\n".join(lines)


def _trend_lines(per: Any, results: dict[str, Any], last: int = 12) -> list[str]:
    if per.empty:
        return []
    periods = sorted(per["period"].unique())
    shown = set(periods[-last:])
    note = f", the last {last} of {len(periods)} periods; --out has all" if len(periods) > last \
        else ""
    lines = [f"\n-- trend by period (mean [95% CI]{note})",
             f"trend: {results.get('trend', 'per period')}"]
    hidden = 0
    for (score, grp), rows in per.groupby(["score", "grp"], sort=True):
        if rows["suppressed"].all():
            hidden += 1
            continue
        cells = [f"{r.period}: " + ("suppressed" if r.suppressed else
                                    f"{_num(r.mean)}" + ("" if _isnan(r.ci_lo) else
                                                         f" [{_num(r.ci_lo)}, {_num(r.ci_hi)}]"))
                 for r in rows.sort_values("period").itertuples() if r.period in shown]
        lines.append(f"{score} / {grp}: " + "; ".join(cells))
    if hidden:
        lines.append(f"({hidden} score/group series suppressed in every period)")
    return lines


def _comparison_lines(c: Any, top: int) -> list[str]:
    if c.empty:
        return []
    lines = [f"\n-- comparisons ({len(c):,}; q = Benjamini-Hochberg over all comparisons "
             "of the run)"]
    for r in c[c["effect"] == "eta2"].itertuples():
        lines.append(f"{r.score:<22} eta2 = {_num(r.estimate)} (population CI [{_num(r.ci_lo)}, "
                     f"{_num(r.ci_hi)}])  ANOVA p = {_num(r.p)}  q = {_num(r.q)}")
    pairs = c[c["effect"] == "d"].sort_values(["q", "p"]).head(top)
    for r in pairs.itertuples():
        lines.append(f"{r.score:<22} {r.group_a} vs {r.group_b}: d = {_num(r.estimate)} "
                     f"[{_num(r.ci_lo)}, {_num(r.ci_hi)}]  Welch p = {_num(r.p)}  q = {_num(r.q)}")
    return lines
