"""``psyprofile``: the command line. Each command parses options and calls one library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from psyprofile import __version__
from psyprofile.cli.engine_options import engine_options
from psyprofile.cli.quiet_option import quiet_option
from psyprofile.cli.study_open import open_study
from psyprofile.errors import PsyprofileError


class _Group(click.Group):
    """Prints psyprofile's own errors as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PsyprofileError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


study_arg = click.argument("study", type=click.Path(file_okay=False, path_type=Path))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="psyprofile")
@quiet_option
def cli(quiet: bool) -> None:
    """Psychological profiles from social-media language, and group findings from them.

    Start with `psyprofile demo`, or `psyprofile init STUDY` then `psyprofile ingest`.
    `psyprofile --quiet CMD` is CMD without progress bars.
    """


@cli.command()
@study_arg
@click.option("--name", help="A name for the study (default: the folder name).")
def init(study: Path, name: str | None) -> None:
    """Create a study workspace in STUDY (a DuckDB file, a config, and a secret key)."""
    from psyprofile.store.workspace import Workspace

    ws = Workspace.create(study, name=name)
    click.echo(f"created study '{ws.config['name']}' in {study}")
    click.echo(f"  database {ws.db_path}\n  settings {ws.config_path}")
    click.echo(f"  key      {ws.key_path} (mode 0600: back it up, never share it)")


@cli.command()
@study_arg
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Input format: auto, csv, tsv, jsonl, parquet, x-archive, reddit, mastodon.")
@click.option("--text-col", help="Column holding the post text (csv/tsv/parquet/jsonl; dotted names like user.id reach nested JSON fields).")
@click.option("--user-col", help="Column holding the author's id.")
@click.option("--time-col", help="Column holding the post time.")
@click.option("--id-col", help="Column holding the post id.")
@click.option("--group-col", "group_cols", multiple=True,
              help="Extra column kept as a group level (repeatable). Stored and exported in clear "
                   "text, so id and handle fields (author, screen_name, *_id, ...) are refused "
                   "unless --keep-raw-ids.")
@click.option("--donor-id", metavar="ID",
              help="For one person's export (X archive, Mastodon export, ...): every post is this "
                   "donor's. Pseudonymised like any user id. Needed when the export has no "
                   "account id (a bare tweets.js); refused for files of many authors.")
@click.option("--source-label", "source_labels", multiple=True, metavar="LABEL",
              help="The name stored for the input (one, or one per file); default a keyed hash "
                   "of the file name, which is never stored (it often names the donor).")
@click.option("--language", help="Keep only posts in this language (ISO 639-1 code, e.g. en): the "
                                 "platform's tag when the export has one, else detected.")
@click.option("--public-only", is_flag=True,
              help="Leave followers-only (semi-private) posts out, counted as followers_only.")
@click.option("--keep-raw-ids", is_flag=True, help="Also store the raw user ids (in a separate table).")
@click.option("--max-chars", default=200_000, show_default=True, help="Skip (and count) posts longer than this.")
@click.option("--partition-rows", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Posts per partition (and per committed batch): a worker's memory grows with it.")
@quiet_option
@engine_options
def ingest(study: Path, files: tuple[Path, ...], fmt: str, text_col, user_col, time_col, id_col,
           group_cols, donor_id, source_labels, language, public_only, keep_raw_ids, max_chars,
           partition_rows, quiet, engine) -> None:
    """Load posts from FILES into STUDY: validate, pseudonymise, dedupe, detect language.

    A run is stored whole or not at all; a run whose process was killed is rolled back the
    next time the study is opened. File names are not stored: each file gets a source label.
    """
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import check_options
    from psyprofile.io.ingest import ingest as run

    cols = ColumnMap(text=text_col, user=user_col, time=time_col, id=id_col, groups=tuple(group_cols))
    check_options(list(files), fmt, cols, language, keep_raw_ids, max_chars, partition_rows,
                  donor_id, list(source_labels))
    ws = open_study(study)
    with engine.open() as eng:
        report = run(ws, list(files), fmt=fmt, columns=cols, language=language,
                     keep_raw_ids=keep_raw_ids, max_chars=max_chars, chunk_rows=partition_rows,
                     progress=not quiet, engine=eng, donor_id=donor_id,
                     source_labels=source_labels, public_only=public_only)
    click.echo(report.summary())


@cli.command()
@study_arg
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with stable keys.")
def info(study: Path, as_json: bool) -> None:
    """Show what STUDY holds: posts, users, languages, dates, groups, what was skipped."""
    from psyprofile.store.summary import workspace_summary

    s = workspace_summary(open_study(study, read_only=True))
    if as_json:
        click.echo(json.dumps(s, indent=2, default=str))
        return
    click.echo(f"study {s['study']} at {s['path']}")
    click.echo(f"  posts {s['posts']:,}   users {s['users']:,}   dates {s['date_range'][0]} .. {s['date_range'][1]}")
    if s["followers_only"]:
        click.echo(f"  followers-only (semi-private) posts: {s['followers_only']:,} of the "
                   f"{s['posts']:,} (leave them out with ingest --public-only)")
    langs = ", ".join(f"{k} {v:,}" for k, v in list(s["languages"].items())[:8])
    click.echo(f"  languages: {langs or '-'}")
    for g, n in s["group_columns"].items():
        click.echo(f"  group column {g}: {n:,} values")
    if s["rejected"]:
        click.echo("  skipped on ingest: " + ", ".join(f"{k} {v:,}" for k, v in s["rejected"].items()))
    for r in s["runs"]:
        click.echo(f"  run {r['run_id']} ({r['status']}, {r['started_at']}): {r['rows_read'] or 0:,} read, {r['rows_stored'] or 0:,} stored")
        if r["status"] != "done":
            for note in r["notes"]:
                click.echo(f"    {note}")
    # every table exists from the first open (the migrations make them): list the filled ones
    extra = {k: v for k, v in s["tables"].items() if v and k not in {"meta", "messages"}}
    click.echo("  tables with rows: " + (", ".join(f"{k} {v:,}" for k, v in extra.items()) or "-"))


@cli.command()
@study_arg
@click.argument("what", type=click.Choice(["posts", "features", "outcomes", "predictions"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file, .csv or .parquet.")
@click.option("--set", "feature_set", help="Feature set to export (with `features`), e.g. 1gram.")
@click.option("--level", default="user", show_default=True, help="Level of the feature set: message, user or a group column.")
@click.option("--wide", is_flag=True,
              help="With `features`: one row per group, one column per feature (relative "
                   "frequencies), plus words; default the long shape.")
def export(study: Path, what: str, out: Path, feature_set: str | None, level: str,
           wide: bool) -> None:
    """Write stored data (pseudonymous ids only) to a CSV or Parquet file, with a codebook
    (<name>.codebook.csv: each column's type, unit, source, citation, meaning) beside it.

    WHAT is posts, features (with --set and --level, --wide), outcomes or predictions.
    """
    from psyprofile.store import export as ex

    ws = open_study(study, read_only=True)
    if what == "features":
        if not feature_set:
            raise click.UsageError("give the feature set to export with --set NAME (e.g. --set 1gram).")
        from psyprofile.features.export import export_features_wide
        from psyprofile.features.store import export_features

        n = (export_features_wide if wide else export_features)(ws, feature_set, level, out)
    elif wide:
        raise click.UsageError("--wide is for `export STUDY features --set NAME`.")
    else:
        n = {"posts": ex.export_posts, "outcomes": ex.export_outcomes, "predictions": ex.export_predictions}[what](ws, out)
    from psyprofile.store.codebook import codebook_path

    click.echo(f"wrote {n:,} {what} rows to {out} (codebook: {codebook_path(out)})")


@cli.command()
@study_arg
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user-col", default="user_id", show_default=True, help="Column holding the user id (raw; pseudonymised on load).")
@click.option("--columns", help="Comma-separated outcome columns to load (default: all others).")
def outcomes(study: Path, file: Path, user_col: str, columns: str | None) -> None:
    """Load per-user outcomes (age, survey scores, occupation, ...) from a CSV/TSV/Parquet FILE."""
    from psyprofile.store.outcomes import load_outcomes

    cols = [c.strip() for c in columns.split(",")] if columns else None
    click.echo(load_outcomes(open_study(study), file, user_col=user_col, columns=cols).summary())


# Each area keeps its commands in its own module; they import heavy libraries lazily.
from psyprofile.cli.demo import demo  # noqa: E402
from psyprofile.cli.dla import dla  # noqa: E402
from psyprofile.cli.features import features  # noqa: E402
from psyprofile.cli.lexica import lexica, topics  # noqa: E402
from psyprofile.cli.models import models, predict, train  # noqa: E402
from psyprofile.cli.profile import profile  # noqa: E402
from psyprofile.cli.report import report  # noqa: E402
from psyprofile.cli.serve import keys, serve  # noqa: E402
from psyprofile.cli.study import study as study_command  # noqa: E402
from psyprofile.cli.survey import survey, validity  # noqa: E402

for _command in (demo, features, lexica, topics, dla, train, predict, models, profile, survey,
                 validity, study_command, report, serve, keys):
    cli.add_command(_command)

if __name__ == "__main__":
    cli()
