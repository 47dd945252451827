"""``psyprofile profile``: users' psychological profiles, a user's card, an export."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--min-words", type=int, help="Users with fewer words are listed as insufficient "
              "text, not scored (default: the study's min_words, 500).")
@click.option("--big5", default="zeroshot", show_default=True,
              help="Big Five source: 'zeroshot' (IPIP item similarity) or saved model(s) from "
                   "`psyprofile train` (name or path; several joined by ',').")
@click.option("--embedder", type=click.Choice(["minilm", "minilm-static"]), default="minilm",
              show_default=True, help="Zero-shot embedder: the full MiniLM on the first window of "
                                      "16 posts per user, or the static copy on all text (10x "
                                      "faster; its conscientiousness is not trustworthy).")
@click.option("--user", help="Print this user's card (pseudonymous id or its first characters) "
                             "from the stored profiles.")
@click.option("--explain", is_flag=True, help="With --user: what pushed each score up and down.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Export one row per user to a .csv or .parquet file.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def profile(study: Path, min_words: int | None, big5: str, embedder: str, user: str | None,
            explain: bool, out: Path | None, quiet: bool) -> None:
    """Score every user of STUDY with enough text: Big Five, emotions, sentiment, well-being,
    temporal orientation, age and gender, each with a 95% interval and a percentile.

    With --user, print that user's card from the stored profiles (run without --user first;
    --big5 and --embedder then do not apply: the card uses the sources of that run).
    """
    from psyprofile.profiles.spec import default_spec
    from psyprofile.store.workspace import Workspace

    ws = Workspace.open(study)
    if explain and not user:
        raise click.UsageError("--explain goes with --user ID.")
    if user:
        from psyprofile.profiles.card import user_card

        # the card explains with the sources the stored profile was made with
        click.echo(user_card(ws, user, explain=explain), nl=False)
    else:
        from psyprofile.profiles.study import profile_study

        report = profile_study(ws, min_words=min_words, progress=not quiet,
                               spec=default_spec(big5, embedder))
        click.echo(report.summary())
    if out:
        from psyprofile.profiles.export import export_profiles

        click.echo(f"wrote {export_profiles(ws, out):,} users to {out}")
