"""``psyprofile features``: extract feature sets (n-grams, lexica, topics, embeddings, style)."""

from __future__ import annotations

from pathlib import Path

import click

from psyprofile.cli.engine_options import EngineChoice, engine_options
from psyprofile.cli.quiet_option import quiet_option
from psyprofile.errors import PsyprofileError


def _ngram_lengths(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        ns = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise PsyprofileError(f"--ngrams takes lengths separated by commas, e.g. 1,2,3 (got '{text}').") from None
    return ns


@click.command()
@click.argument("study", type=click.Path(file_okay=False, path_type=Path))
@click.option("--level", default="user", show_default=True,
              help="Group the features by: user, message, or a group column of the study.")
@click.option("--ngrams", help="N-gram lengths, e.g. 1 or 1,2,3 (several also give 1to3gram).")
@click.option("--lexicon", "lexica", multiple=True,
              help="A lexicon name or file (.csv, .dic, FILE.db:TABLE); repeatable.")
@click.option("--topics", multiple=True, help="A topic set by name, e.g. fb2000_cp; repeatable.")
@click.option("--embeddings", help="Sentence-embedding model, e.g. minilm.")
@click.option("--style", is_flag=True, help="Style measures (pronouns, punctuation, readability...).")
@click.option("--chars", help="Character n-grams inside words, a length or range, e.g. 2-4 "
                              "(set char2to4): spelling, punctuation and casing habits.")
@click.option("--min-users-pct", type=float,
              help="Also write n-gram (and character n-gram) sets keeping features used by at "
                   "least this share of the groups with enough words (0.05 = 5%), named "
                   "<set>_occ<P>.")
@click.option("--pmi", type=float,
              help="Also write n-gram sets keeping 2/3grams with PMI above this (DLATK uses 3), "
                   "named <set>_pmi<T>.")
@click.option("--min-words", type=int, help="Leave out groups with fewer words than this.")
@click.option("--partition-chars", type=click.IntRange(min=10_000), default=1_000_000,
              show_default=True,
              help="Characters of text per partition: a worker's memory grows with it.")
@quiet_option
@engine_options
def features(study: Path, level: str, ngrams: str | None, lexica: tuple[str, ...],
             topics: tuple[str, ...], embeddings: str | None, style: bool, chars: str | None,
             min_users_pct: float | None, pmi: float | None, min_words: int | None,
             partition_chars: int, quiet: bool, engine: EngineChoice) -> None:
    """Extract feature sets of STUDY; sets already up to date are skipped.

    Without a feature option, extracts 1grams. Each set is stored as feat$<set>$<level>.
    """
    from psyprofile.cli.study_open import open_study
    from psyprofile.features.chars import parse_lengths
    from psyprofile.features.extract import FeatureOptions, extract_features

    ns = _ngram_lengths(ngrams)
    char_lengths = parse_lengths(chars) if chars else None
    if not (ns or lexica or topics or embeddings or style or char_lengths):
        ns = (1,)
    if min_words is not None and min_words < 0:
        raise PsyprofileError(f"--min-words must be 0 or more (got {min_words}).")
    options = FeatureOptions(level=level, ngrams=ns, lexica=(*lexica, *topics),
                             embeddings=embeddings, style=style, min_users_pct=min_users_pct,
                             min_words=min_words, pmi=pmi, chars=char_lengths)
    with engine.open() as eng:
        report = extract_features(open_study(study), options, progress=not quiet, engine=eng,
                                  chunk_chars=partition_chars)
    if "messages" in report:
        click.echo(f"{report['messages']:,} messages in {report['groups']:,} {level} groups")
    for name, r in report["sets"].items():
        if "skipped" in r:
            click.echo(f"  {name}: skipped, {r['skipped']}")
        else:
            click.echo(f"  {name}: {r['features']:,} features, {r['groups']:,} groups, "
                       f"{r['rows']:,} rows ({r['seconds']:.1f} s) -> feat${name}${level}")
    for note in report["notes"]:
        click.echo(f"  note: {note}")
