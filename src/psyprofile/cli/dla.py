"""``psyprofile dla``: differential language analysis of outcomes over feature sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


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
              help="Leave out groups with fewer words (default: the study's min_words, 500).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write all results to this .csv or .parquet file.")
@click.option("--clouds", "clouds_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write word clouds (PNG and SVG) of the significant features into this folder.")
@click.option("--top", default=20, show_default=True,
              help="Features shown per direction and outcome.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def dla(study: Path, outcomes: tuple[str, ...], features: str, controls: str | None,
        min_users_pct: float | None, fdr: str, alpha: float, level: str, min_words: int | None,
        out: Path | None, clouds_dir: Path | None, top: int, quiet: bool) -> None:
    """Which features (words, topics, lexicon categories) go with each outcome in STUDY.

    Standardised regression coefficients (Pearson r without controls; log-odds per SD for a
    two-valued outcome), 95% CIs and corrected p-values, stored in the study.
    """
    from psyprofile.analysis.dla import export_results, run_dla
    from psyprofile.store.workspace import Workspace

    ws = Workspace.open(study)
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
        export_results(res, out)
        click.echo(f"wrote {len(res):,} rows to {out}")
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
    head = [
        "",
        f"== {outcome} ({'binary: 1 = ' + repr(info['coded_1']) if binary else 'continuous'}; "
        f"{info['n']:,} users) ==",
        f"  left out: {info['excluded_missing_outcome']:,} without {outcome}, "
        f"{info['excluded_missing_control']:,} without a control value; "
        f"{info['constant_features']:,} constant features skipped"
        + (f"; {info['separation_features']:,} features with separation (no estimate)"
           if binary else ""),
        f"  {info['tested']:,} features tested, {info['significant']:,} significant "
        f"({fdr} p < {s['alpha']:g}, marked *)",
        f"  effect: {'log-odds per SD of the feature' if binary else 'standardised coefficient'}"
        + ("" if binary or info["controls"] else " (= Pearson r)")
        + (f", adjusted for {', '.join(info['controls'])}" if info["controls"] else ""),
    ]
    est = rows.dropna(subset=["coef"])
    pos = est[est["coef"] > 0].head(top)
    neg = est[est["coef"] < 0].sort_values("coef").head(top)
    return "\n".join(head + _table("positive", pos, s["alpha"], binary)
                     + _table("negative", neg, s["alpha"], binary))


def _table(label: str, rows: Any, alpha: float, binary: bool) -> list[str]:
    if rows.empty:
        return [f"  -- {label}: none"]
    width = max(12, min(30, int(rows["feature"].str.len().max())))
    set_w = max(3, int(rows["feature_set"].str.len().max()))
    lines = [f"  -- {label} --",
             f"  {'feature':<{width}} {'set':<{set_w}} {'coef':>7} {'95% CI':>17} "
             f"{'p_corr':>9}" + ("  odds ratio" if binary else "")]
    for r in rows.itertuples(index=False):
        mark = "*" if r.p_corrected < alpha else " "
        feat = r.feature if len(r.feature) <= width else r.feature[: width - 1] + "…"
        line = (f"  {feat:<{width}} {r.feature_set:<{set_w}} {r.coef:>7.3f} "
                f"[{r.ci_lo:>7.3f},{r.ci_hi:>7.3f}] {r.p_corrected:>9.2g}{mark}")
        if binary:
            line += f" {r.odds_ratio:>10.3f}"
        lines.append(line)
    return lines


def _clouds(ws: Any, res: Any, sets: list[str], level: str, alpha: float, outdir: Path) -> None:
    from psyprofile.report.clouds import clouds_for_run

    report = clouds_for_run(ws, res, sets, level, alpha, outdir)
    for note in report.notes:
        click.echo(f"clouds: {note}")
    click.echo(f"wrote {len(report.files):,} cloud files to {outdir}")
