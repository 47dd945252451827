"""``psyprofile demo``: build a study from the public blog corpus, step by step."""

from __future__ import annotations

from pathlib import Path

import click

from psyprofile.cli.quiet_option import quiet_option


@click.command()
@click.argument("study_dir", required=False, default="psyprofile-demo",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Delete STUDY_DIR first if it holds a psyprofile study (never any other folder).")
@click.option("--min-words", type=int, default=None,
              help="Users with fewer words are left out of filters and analyses (default: "
                   "the study's min_words setting).")
@quiet_option
@click.pass_context
def demo(ctx: click.Context, study_dir: Path, force: bool, min_words: int | None, quiet: bool) -> None:
    """Build a demo study in STUDY_DIR (default ./psyprofile-demo) from the blog corpus
    DLATK publishes (31,674 posts by 1,000 bloggers; downloaded once, ~35 MB)."""
    from psyprofile.cli.main import info
    from psyprofile.demo import run_demo

    run_demo(study_dir, force=force, progress=not quiet, min_words=min_words)
    click.echo("\n== the study now")
    ctx.invoke(info, study=study_dir)
