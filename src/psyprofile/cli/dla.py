"""``psyprofile dla``: differential language analysis of outcomes over feature sets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from psyprofile.cli.quiet_option import quiet_option


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@click.command("dla")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--outcome", "outcomes", multiple=True, required=True,
              help="Outcome column to analyse (repeatable), e.g. --outcome age --outcome gender.")
@click.option("--features", required=True,
              help="Comma-separated feature sets, e.g. 1gram_occ0.05,fb2000_cp.")
@click.option("--controls", help="Comma-separated outcome columns to adjust for, e.g. gender,age.")
@click.option("--min-users-pct", type=float,
              help="Keep only features used by at least this share of the users (e.g. 0.05).")
@click.option("--fdr", type=click.Choice(["bh", "bonferroni", "none"]), default="bh",
              show_default=True, help="Multiple-testing correction, per outcome over all features.")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Significance level for the corrected p-values.")
@click.option("--level", default="user", show_default=True, help="Group level of the features.")
@click.option("--min-words", type=int,
              help="Leave out groups with fewer words (default: the study's min_words, "
                   "psyprofile.toml).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write all results to this .csv or .parquet file.")
@click.option("--clouds", "clouds_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write word clouds (PNG and SVG) of the significant features into this folder.")
@click.option("--top", default=20, show_default=True,
              help="Features shown per direction and outcome.")
@click.option("--labels", "labels", multiple=True,
              help="Value labels of an outcome, e.g. gender=0:male,1:female (repeatable); kept in "
                   "the study, and the directions of a two-valued outcome are named by them.")
@quiet_option
def dla(study: Path, outcomes: tuple[str, ...], features: str, controls: str | None,
        min_users_pct: float | None, fdr: str, alpha: float, level: str, min_words: int | None,
        out: Path | None, clouds_dir: Path | None, top: int, labels: tuple[str, ...],
        quiet: bool) -> None:
    """Which features (words, topics, lexicon categories) go with each outcome in STUDY.

    Standardised regression coefficients (Pearson r without controls; log-odds per SD for a
    two-valued outcome), 95% CIs and corrected p-values, stored in the study.
    """
    from psyprofile.analysis.dla import export_results, run_dla
    from psyprofile.cli.study_open import open_study
    from psyprofile.store.outcomes import parse_labels, set_value_labels

    ws = open_study(study)
    if labels:
        set_value_labels(ws, parse_labels(labels))
    sets = _csv(features)
    res = run_dla(ws, list(outcomes), sets, level=level, controls=_csv(controls),
                  min_users_pct=min_users_pct, min_words=min_words, fdr=fdr, alpha=alpha,
                  progress=not quiet)
    summary = res.attrs["summary"]
    click.echo(_overview(summary))
    for outcome in outcomes:
        click.echo(_outcome_table(res[res["outcome"] == outcome], outcome, summary, top))
    click.echo(f"stored as DLA run {res.attrs['run_id']} (table dla_results)")
    if out:
        from psyprofile.store.codebook import codebook_path

        export_results(res, out)
        click.echo(f"wrote {len(res):,} rows to {out} (codebook: {codebook_path(out)})")
    if clouds_dir:
        _clouds(ws, res, sets, level, alpha, clouds_dir)


def _overview(s: dict[str, Any]) -> str:
    lines = [f"{s['groups_eligible']:,} {s['level']}s with at least {s['min_words']:,} words "
             f"({s['excluded_min_words']:,} of {s['groups_with_text']:,} left out for fewer)"]
    feats = ", ".join(f"{k} {v:,}" for k, v in s["features"].items())
    lines.append(f"features: {feats}")
    if s["occurrence_filtered"]:
        dropped = ", ".join(f"{k} {v:,}" for k, v in s["occurrence_filtered"].items())
        lines.append(f"  dropped as used by under {s['min_users_pct']:g} of the users: {dropped}")
    if s["controls"]:
        lines.append(f"controls: {', '.join(s['controls'])}")
    return "\n".join(lines)


def _outcome_table(rows: Any, outcome: str, s: dict[str, Any], top: int) -> str:
    info = s["outcomes"][outcome]
    binary = info["kind"] == "binary"
    fdr = {"bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni", "none": "uncorrected"}[s["fdr"]]
    kind = (f"binary: 1 = {info['label_1']}, 0 = {info['label_0']}" if binary else "continuous")
    head = [
        "",
        f"== {outcome} ({kind}; {info['n']:,} users) ==",
        f"  left out: {info['excluded_missing_outcome']:,} without {outcome}, "
        f"{info['excluded_missing_control']:,} without a control value; "
        f"{info['constant_features']:,} constant features skipped"
        + (f"; {info['separation_features']:,} features with separation (no estimate)"
           if binary else ""),
        f"  {info['tested']:,} features tested, {info['significant']:,} significant "
        f"({fdr} p < {s['alpha']:g}, marked *)",
        ("  effect: r (point-biserial correlation, the order shown); coef = log-odds per SD of "
         "the feature, 95% Wald CI" if binary
         else "  effect: standardised coefficient, 95% CI from Fisher's z")
        + ("" if binary or info["controls"] else " (= Pearson r)")
        + (f", adjusted for {', '.join(info['controls'])}" if info["controls"] else ""),
    ]
    key = "r" if binary else "coef"
    est = rows.dropna(subset=[key])
    pos = est[est[key] > 0].sort_values(key, ascending=False).head(top)
    neg = est[est[key] < 0].sort_values(key).head(top)
    up, down = ((f"more in {info['label_1']}", f"more in {info['label_0']}") if binary
                else (f"higher {outcome}", f"lower {outcome}"))
    return "\n".join(head + _table(up, pos, s["alpha"], binary)
                     + _table(down, neg, s["alpha"], binary))


# Odds ratios per SD beyond this are printed as a bound: the fit is near separation, and the
# number itself says nothing (a rare word used only in one class reached 97,620).
MAX_SHOWN_ODDS = 100.0


def _odds(r: Any) -> str:
    if not math.isfinite(r.coef):
        return f"{'separated':>10}"
    if r.odds_ratio > MAX_SHOWN_ODDS:
        return f"{'>' + format(MAX_SHOWN_ODDS, 'g'):>10}"
    if r.odds_ratio < 1 / MAX_SHOWN_ODDS:
        return f"{'<' + format(1 / MAX_SHOWN_ODDS, 'g'):>10}"
    return f"{r.odds_ratio:>10.3f}"


def _name(r: Any) -> str:
    """A topic by its top words and id ('dinner, cook, eat (344)'), another feature as is."""
    label = getattr(r, "label", None)
    return f"{label} ({r.feature})" if isinstance(label, str) and label else str(r.feature)


def _table(title: str, rows: Any, alpha: float, binary: bool) -> list[str]:
    if rows.empty:
        return [f"  -- {title}: none"]
    names = [_name(r) for r in rows.itertuples(index=False)]
    width = max(12, min(40, max(map(len, names))))
    set_w = max(3, int(rows["feature_set"].str.len().max()))
    lines = [f"  -- {title} --",
             f"  {'feature':<{width}} {'set':<{set_w}} " + (f"{'r':>7} " if binary else "")
             + f"{'coef':>7} {'95% CI':>17} {'p_corr':>9}" + ("  odds ratio" if binary else "")]
    for r, name in zip(rows.itertuples(index=False), names, strict=True):
        mark = "*" if r.p_corrected < alpha else " "
        feat = name if len(name) <= width else name[: width - 1] + "…"
        if math.isfinite(r.coef):
            est = f"{r.coef:>7.3f} [{r.ci_lo:>7.3f},{r.ci_hi:>7.3f}] {r.p_corrected:>9.2g}{mark}"
        else:
            est = f"{'n/a':>7} {'':>17} {'':>9} "
        line = f"  {feat:<{width}} {r.feature_set:<{set_w}} " + (f"{r.r:>7.3f} " if binary else "") + est
        if binary:
            line += " " + _odds(r)
        lines.append(line)
    return lines


def _clouds(ws: Any, res: Any, sets: list[str], level: str, alpha: float, outdir: Path) -> None:
    from psyprofile.report.clouds import clouds_for_run

    report = clouds_for_run(ws, res, sets, level, alpha, outdir)
    for note in report.notes:
        click.echo(f"clouds: {note}")
    click.echo(f"wrote {len(report.files):,} cloud files to {outdir}")
