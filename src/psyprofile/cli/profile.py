"""``psyprofile profile``: users' psychological profiles, a user's card, an export."""

from __future__ import annotations

from pathlib import Path

import click

from psyprofile.cli.quiet_option import quiet_option
from psyprofile.profiles.spec import DEFAULT_BIG5, DEFAULT_EMBEDDER, EMBEDDERS


@click.command()
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--min-words", type=int, help="Users with fewer words are listed as insufficient "
              "text, not scored (default: the study's min_words, psyprofile.toml).")
@click.option("--big5", default=DEFAULT_BIG5, show_default=True,
              help="Big Five source(s), joined by ',': 'wwbp' (the WWBP lexicon of Schwartz et "
                   "al. 2013; best convergent evidence), 'zeroshot' (IPIP item similarity; "
                   "experimental, mean r .05 with self-report), or saved model(s) from "
                   "`psyprofile train` (name or path).")
@click.option("--embedder", type=click.Choice(list(EMBEDDERS)), default=DEFAULT_EMBEDDER,
              show_default=True, help="Zero-shot embedder: 'minilm', the full MiniLM on the first "
                                      "window of 16 posts per user; 'minilm-static', the static "
                                      "copy on all text (10x faster; its conscientiousness is not "
                                      "trustworthy); 'e5-multilingual', multilingual-e5-small on "
                                      "16 whole posts per user, for posts in ~100 languages "
                                      "(no blog norms: z within the study).")
@click.option("--reference", type=click.Choice(["blogs", "study"]), default="blogs",
              show_default=True,
              help="Percentiles (and zero-shot z) against the 1,000 bloggers of the DLATK "
                   "tutorial corpus (bundled norms; so one person gets a profile too), or "
                   "within this study.")
@click.option("--user", help="Print this user's card (pseudonymous id or its first characters) "
                             "from the stored profiles.")
@click.option("--explain", is_flag=True, help="With --user: what pushed each score up and down, "
                                              "and each source's citation.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Export one row per user to a .csv or .parquet file, with a codebook "
                   "(<name>.codebook.csv) beside it.")
@click.option("--run", "run", type=int, help="With --user or --out: read this profile run "
                                             "(default the latest) instead of running a new one.")
@click.option("--runs", "list_runs", is_flag=True, help="List the study's profile runs.")
@quiet_option
def profile(study: Path, min_words: int | None, big5: str, embedder: str, reference: str,
            user: str | None, explain: bool, out: Path | None, run: int | None,
            list_runs: bool, quiet: bool) -> None:
    """Score every user of STUDY with enough text: Big Five, emotions, sentiment,
    well-being, temporal orientation, age and gender, each with a 95% interval, a
    percentile against a named reference sample, and the source's evidence. A source scores
    only users writing mostly in its languages (English for the lexica and VADER; ~100 for
    --big5 zeroshot --embedder e5-multilingual); the others are listed as unsupported
    language for it.

    Every run is kept (a run id, its sources); --runs lists them. With --user, print that
    user's card from a stored run (run without --user first; --big5 and --embedder then do
    not apply: the card uses the sources of that run).
    """
    from psyprofile.cli.study_open import open_study
    from psyprofile.profiles.spec import default_spec

    # --runs, --user and --run only read stored runs: they work beside other readers
    ws = open_study(study, read_only=bool(list_runs or user or run is not None))
    if explain and not user:
        raise click.UsageError("--explain goes with --user ID.")
    if list_runs:
        from psyprofile.profiles.study import list_runs as runs_of

        df = runs_of(ws)
        if df.empty:
            click.echo("no profile runs yet")
        for r in df.itertuples():
            click.echo(f"run {r.run_id}  {r.created_at or '-'}  scored {r.scored:,}  "
                       f"reference {r.reference or '-'}  sources {', '.join(r.sources or [])}")
        return
    if user:
        from psyprofile.profiles.card import user_card

        # the card explains with the sources the stored profile was made with
        click.echo(user_card(ws, user, explain=explain, run=run), nl=False)
    elif run is None:
        from psyprofile.profiles.study import profile_study

        report = profile_study(ws, min_words=min_words, progress=not quiet,
                               spec=default_spec(big5, embedder), reference=reference)
        click.echo(report.summary())
    elif not out:
        raise click.UsageError("--run goes with --user ID or --out FILE.")
    if out:
        from psyprofile.profiles.export import export_profiles
        from psyprofile.store.codebook import codebook_path

        n = export_profiles(ws, out, run=run)
        click.echo(f"wrote {n:,} users to {out} (codebook: {codebook_path(out)})")
