"""``psyprofile survey`` (score a questionnaire) and ``psyprofile validity`` (language vs survey)."""

from __future__ import annotations

from pathlib import Path

import click

from psyprofile.cli.quiet_option import quiet_option

study_arg = click.argument("study", type=click.Path(file_okay=False, path_type=Path))


@click.command()
@study_arg
@click.argument("responses", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--inventory", required=True, type=click.Choice(["ipip50", "ipipneo120", "mini-ipip"]),
              help="The questionnaire answered: IPIP-50 markers, IPIP-NEO-120 or Mini-IPIP.")
@click.option("--user-col", required=True, help="Column holding the respondent id (raw; pseudonymised).")
@click.option("--item-cols",
              help="Where the answers are when columns are not named <inventory>_<n>: a PREFIX "
                   "(Q -> Q1..Qn), 'ipip50_1=Q1,ipip50_2=Q2,...', or a CSV with columns item,column.")
@click.option("--max-missing", type=click.IntRange(min=0),
              help="Unanswered items a scale may have and still be scored (prorated mean); "
                   "default 20% of the scale's items, rounded down.")
@click.option("--invalid", type=click.Choice(["error", "missing"]), default="error", show_default=True,
              help="Answers that are not whole numbers 1..5: stop with a list, or count them as unanswered.")
@click.option("--exclude-careless", is_flag=True, help="Leave flagged careless responders out of the scores.")
@click.option("--longstring", "longstring_min", default=10, show_default=True, type=click.IntRange(min=2),
              help="Flag a run of this many identical consecutive answers.")
@click.option("--even-odd-min", default=0.30, show_default=True,
              help="Flag an even-odd consistency below this.")
@click.option("--bootstrap", "n_boot", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Bootstrap resamples of respondents for the CIs of alpha and omega.")
@click.option("--seed", default=0, show_default=True)
@quiet_option
def survey(study: Path, responses: Path, inventory: str, user_col: str, item_cols: str | None,
           max_missing: int | None, invalid: str, exclude_careless: bool, longstring_min: int,
           even_odd_min: float, n_boot: int, seed: int, quiet: bool) -> None:
    """Score questionnaire RESPONSES (CSV/TSV/Parquet, one row per respondent) into STUDY.

    Stores the trait scores as outcomes <inventory>_<trait> (e.g. ipip50_extraversion) for
    `train` and `validity`, and alpha/omega and careless-responding flags in the tables
    survey_scales and survey_flags.
    """
    from psyprofile.cli.study_open import open_study
    from psyprofile.survey.run import score_survey

    report = score_survey(open_study(study), responses, inventory, user_col,
                          item_cols=item_cols, max_missing=max_missing, invalid=invalid,
                          exclude_careless=exclude_careless, longstring_min=longstring_min,
                          even_odd_min=even_odd_min, n_boot=n_boot, seed=seed,
                          progress=not quiet)
    click.echo(report.summary())


@click.command()
@study_arg
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every figure to this CSV (a `section` column tells the parts apart).")
@click.option("--no-split-half", is_flag=True, help="Skip the split-half reliability (re-scores messages).")
@click.option("--min-words", type=int, help="Minimum words per user for split-half (default: the study setting).")
@click.option("--seed", default=0, show_default=True)
@quiet_option
def validity(study: Path, out: Path | None, no_split_half: bool, min_words: int | None,
             seed: int, quiet: bool) -> None:
    """Convergent validity of STUDY's profiles against questionnaire outcomes, the
    multitrait-multimethod table, and split-half reliability of every profile dimension."""
    from psyprofile.analysis.validity import validity_report
    from psyprofile.cli.study_open import open_study

    report = validity_report(open_study(study), split_half=not no_split_half,
                             min_words=min_words, seed=seed, progress=not quiet)
    click.echo(report.summary())
    if out:
        n = report.to_csv(out)
        click.echo(f"wrote {n:,} rows to {out}")
