"""``psyprofile report``: one self-contained HTML file with a study's data, findings and methods."""

from __future__ import annotations

from pathlib import Path

import click

from psyprofile.cli.quiet_option import quiet_option


@click.command("report")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write, e.g. report.html.")
@click.option("--run", "study_run", type=int,
              help="Group study run to show (default: the latest `psyprofile study` run).")
@quiet_option
def report(study: Path, out: Path, study_run: int | None, quiet: bool) -> None:
    """Write an HTML report of STUDY: what was ingested, profiles, models, DLA, group findings.

    The file opens offline (charts are embedded), holds only aggregates (no post text, no raw
    ids), and says which analyses have not been run yet.
    """
    from psyprofile.cli.study_open import open_study
    from psyprofile.report.html import write_report

    ws = open_study(study, read_only=True)  # it only reads: it works beside other readers
    click.echo(write_report(ws, out, study_run=study_run, progress=not quiet).summary())
