"""Feature extraction for a study: one streaming pass over the posts, then the derived sets.

The text pass reads ``messages`` ordered by group from DuckDB in Arrow batches, cuts them
into chunks that hold whole groups, and hands the chunks to a pool of worker processes that
tokenize and count (n-grams, style). Results come back in order and are appended to the
feature tables as they arrive, so memory stays bounded by a few chunks whatever the size of
the corpus. Then come the filtered copies (occurrence, PMI), lexica and topics (from the
1gram table) and embeddings.

Re-running is incremental: every set stores its parameters and a fingerprint of the posts
(row count and last ingest run) in ``feature_sets.params``; a set whose stored parameters
equal the new ones is skipped with a note, any other is replaced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from tqdm.auto import tqdm

from psyprofile.engine import Engine, open_engine, usable_cpus
from psyprofile.errors import PsyprofileError
from psyprofile.features import chars as ch
from psyprofile.features import ngrams as ng
from psyprofile.features.occurrence import occ_name, occurrence_filter, pmi_filter, pmi_name
from psyprofile.features.store import (
    FeatureTableWriter,
    feature_set_params,
    write_group_words,
)
from psyprofile.store.db import one, quote_ident, scalar
from psyprofile.store.workspace import Workspace

if TYPE_CHECKING:
    from psyprofile.lexica.load import Lexicon

STYLE = "style"
TOKENIZER = "psyprofile.text.tokenize/2"  # bump when the tokenizer's output changes (2: <user>)
CHUNK_CHARS = 1_000_000  # text per worker task: big enough to amortise, small for memory
DUCKDB_MEMORY = "512MB"  # DuckDB's buffer pool while streaming rows in
IN_PROCESS_BELOW = 2_000  # messages; smaller corpora are not worth starting workers for


def level_expression(con: duckdb.DuckDBPyConnection, level: str) -> str:
    """The SQL expression of ``messages`` giving the group id at ``level``."""
    if level == "user":
        return "user_id"
    if level == "message":
        return "message_id"
    cols = [r[0] for r in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall()]
    if level not in cols:
        have = ", ".join(["user", "message", *cols])
        raise PsyprofileError(
            f"level '{level}' is not a group column of this study. Levels available: {have}. "
            "Add group columns on ingest with --group-col."
        )
    return f"CAST({quote_ident(level)} AS VARCHAR)"


def input_fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What the posts look like now: ``{'messages', 'max_run_id'}``; sets built from other
    values are out of date."""
    n, run = one(con, "SELECT count(*), coalesce(max(run_id), 0) FROM messages")
    return {"messages": int(n), "max_run_id": int(run)}


# ---------------------------------------------------------------------------------------------
# the text pass


def _chunks(con: duckdb.DuckDBPyConnection, gexpr: str, with_hours: bool,
            chunk_chars: int) -> Iterator[tuple[list[str], list[str], list[float | None]]]:
    """(group ids, texts, hours) of consecutive messages, each chunk holding whole groups."""
    hour = ("hour(created_at) + minute(created_at) / 60 + second(created_at) / 3600"
            if with_hours else "NULL::DOUBLE")
    # A second cursor reads while the first one writes the results.
    cur = con.cursor()
    reader = cur.sql(
        f"SELECT {gexpr} AS g, text, {hour} AS h FROM messages WHERE {gexpr} IS NOT NULL "
        "ORDER BY g, message_id"
    ).to_arrow_reader(2048)
    gs: list[str] = []
    ts: list[str] = []
    hs: list[float | None] = []
    chars = 0
    try:
        for batch in reader:
            for g, t, h in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                if chars >= chunk_chars and g != gs[-1]:
                    yield gs, ts, hs
                    gs, ts, hs, chars = [], [], [], 0
                gs.append(g)
                ts.append(t)
                hs.append(h)
                chars += len(t)
        if gs:
            yield gs, ts, hs
    finally:
        cur.close()


def process_chunk(gs: list[str], texts: list[str], hours: list[float | None], ns: tuple[int, ...],
                  style: bool, min_words: int | None,
                  chars: tuple[int, int] | None = None) -> dict[str, Any]:
    """Tokenize and count one chunk (runs in a worker): the rows of every set, ``group_words``
    rows and the number of groups dropped for having fewer than ``min_words`` words.
    ``chars``: (low, high) lengths of character n-grams to count too."""
    from psyprofile.text.tokenize import mask_mentions, tokenize

    tokens = [tokenize(t) for t in texts]
    runs = ng.group_runs(gs)
    words = [sum(len(tokens[i]) for i in range(a, b)) for _, a, b in runs]
    keep = None if not min_words else [w >= min_words for w in words]
    tables: dict[str, pa.Table] = {}
    by_n = ng.ngram_tables(gs, tokens, ns, keep) if ns else {}
    for n, t in by_n.items():
        tables[ng.set_name(n)] = t
    if style:
        from psyprofile.features.style import style_table

        tables[STYLE] = style_table(gs, texts, tokens, hours, keep)
    if chars:
        # character n-grams of a handle would name the person as surely as the handle
        tables[ch.set_name(*chars)] = ch.char_table(gs, [mask_mentions(t) for t in texts],
                                                    chars, keep)
    gw = pa.table({"group_id": [g for g, _, _ in runs],
                   "messages": [b - a for _, a, b in runs], "words": words})
    return {"tables": tables, "group_words": gw,
            "excluded": 0 if keep is None else keep.count(False), "messages": len(gs)}


def _process(args: tuple) -> dict[str, Any]:
    return process_chunk(*args)


def text_pass(
    con: duckdb.DuckDBPyConnection,
    level: str,
    ns: Sequence[int],
    combine: Sequence[int],
    style: bool,
    min_words: int | None,
    params: dict[str, dict[str, Any]],
    workers: int | None = None,
    progress: bool = True,
    chunk_chars: int = CHUNK_CHARS,
    engine: Engine | None = None,
    chars: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Stream the posts at ``level`` once and write the n-gram sets of ``ns`` (plus the union
    of the sets of lengths ``combine``, when given), ``style`` and the character n-grams of lengths ``chars`` if
    asked, and ``group_words`` for ``level``.

    ``params[name]`` is stored with each set. Chunks of about ``chunk_chars`` characters of
    text run on ``engine``; without one, on a local pool of ``workers`` processes (default:
    the CPU count; 0 or 1, or a corpus under :data:`IN_PROCESS_BELOW` messages, runs in this
    process). The driver cuts the chunks and writes the results in order, so every engine
    gives the same tables.
    Returns per set its counts, and
    ``messages``, ``groups``, ``excluded_min_words`` and ``messages_without_group``.
    """
    gexpr = level_expression(con, level)
    ns = tuple(sorted(ns))
    total = scalar(con, f"SELECT count(*) FROM messages WHERE {gexpr} IS NOT NULL")
    without = scalar(con, f"SELECT count(*) FROM messages WHERE {gexpr} IS NULL")
    kinds = {ng.set_name(n): "ngram" for n in ns}
    if style:
        kinds[STYLE] = "style"
    if chars:
        kinds[ch.set_name(*chars)] = "chars"
    writers = {name: FeatureTableWriter(con, name, level) for name in kinds}
    gw_parts: list[pa.Table] = []
    excluded = 0
    workers = workers if workers is not None else usable_cpus()
    if total < IN_PROCESS_BELOW:
        workers = 0
    tasks = ((g, t, h, ns, style, min_words, chars)
             for g, t, h in _chunks(con, gexpr, style, chunk_chars))
    bar = tqdm(total=total, unit="msg", desc=f"features ({level})", disable=not progress)
    # Written rows need not stay cached: a small buffer pool keeps the memory of a
    # million-post run flat (DuckDB evicts finished blocks to the database file).
    old_limit = scalar(con, "SELECT current_setting('memory_limit')")
    con.execute("SET memory_limit = ?", [DUCKDB_MEMORY])
    try:
        for res in _run(tasks, workers, engine):
            for name, table in res["tables"].items():
                writers[name].append(table)
            gw_parts.append(res["group_words"])
            excluded += res["excluded"]
            bar.update(res["messages"])
        # Listing a set counts its distinct features, which needs more than the streaming
        # buffer: at 1M posts the 3grams alone hold 4M distinct features.
        con.execute("SET memory_limit = ?", [old_limit])
        out: dict[str, Any] = {}
        for name, w in writers.items():
            out[name] = w.commit(kinds[name], params[name])
        if combine:
            out[ng.combined_name(combine)] = ng.write_combined(con, combine, level,
                                                               params[ng.combined_name(combine)])
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        bar.close()
        con.execute("SET memory_limit = ?", [old_limit])
    gw = pa.concat_tables(gw_parts) if gw_parts else pa.table(
        {"group_id": pa.array([], pa.string()), "messages": pa.array([], pa.int64()),
         "words": pa.array([], pa.int64())})
    write_group_words(con, level, gw)
    return {"sets": out, "messages": total, "groups": gw.num_rows,
            "excluded_min_words": excluded, "messages_without_group": without}


def _run(tasks: Iterator[tuple], workers: int, engine: Engine | None) -> Iterator[dict[str, Any]]:
    """Results of ``_process`` over ``tasks``, in order, with a bounded number in flight: on
    ``engine``, else on a local pool of ``workers`` (this process for 0 or 1)."""
    with open_engine(engine, workers) as eng:
        # the caller's bar counts messages; a second bar per chunk would only repeat it
        yield from eng.map(_process, tasks, desc="feature chunks", progress=False)


# ---------------------------------------------------------------------------------------------
# orchestration


def _lexicon_request(lexicon: str) -> dict[str, Any]:
    path = Path(lexicon)
    if path.exists():
        st = path.stat()
        return {"lexicon": str(path.resolve()), "size": st.st_size, "mtime": st.st_mtime}
    return {"lexicon": lexicon}


def _stamp(con: duckdb.DuckDBPyConnection, name: str, level: str, request: dict[str, Any]) -> None:
    """Add our re-run key to the params another extractor stored with its set."""
    old = feature_set_params(con, name, level) or {}
    old["request"] = request
    con.execute("UPDATE feature_sets SET params = ? WHERE name = ? AND level = ?",
                [json.dumps(old), name, level])


def _up_to_date(con: duckdb.DuckDBPyConnection, name: str, level: str, params: dict) -> bool:
    return feature_set_params(con, name, level) == params


def _stamped(con: duckdb.DuckDBPyConnection, name: str, level: str, request: dict) -> bool:
    return (feature_set_params(con, name, level) or {}).get("request") == request


@dataclass(frozen=True)
class FeatureOptions:
    """What to extract; the options of ``psyprofile features`` map one to one.

    ``level``: ``'user'``, ``'message'`` or a group column; ``ngrams``: n-gram lengths
    (several also give their union, e.g. ``1to3gram``); ``lexica``: lexicon or topic names or
    file paths (each needs the 1gram set, which is added if missing); ``embeddings``: a model
    name; ``style``: the style measures; ``chars``: (low, high) lengths of character n-grams,
    one set (see :mod:`psyprofile.features.chars`); ``min_users_pct`` (a share, 0.05 = 5%):
    also write occurrence-filtered copies of the n-gram and character n-gram sets; ``pmi``:
    also write PMI-filtered copies of the sets with 2grams or longer; ``min_words``: leave
    groups with fewer words out of the n-gram, character and style tables (and use it as the
    occurrence filter's word threshold instead of ``ws.config['min_words']``).
    """

    level: str = "user"
    ngrams: tuple[int, ...] = (1,)
    lexica: tuple[str, ...] = ()
    embeddings: str | None = None
    style: bool = False
    min_users_pct: float | None = None
    min_words: int | None = None  # None: the study's ``min_words`` for the occurrence filter
    pmi: float | None = None
    chars: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        # lists become tuples (options compare by value); a bare name or length is one item,
        # not its letters
        for name, one_item in (("ngrams", int), ("lexica", str)):
            value = getattr(self, name) or ()
            object.__setattr__(self, name,
                               (value,) if isinstance(value, one_item) else tuple(value))
        if self.chars is not None:
            object.__setattr__(self, "chars", tuple(self.chars))


def extract_features(
    ws: Workspace,
    options: FeatureOptions | None = None,
    *,
    progress: bool = True,
    workers: int | None = None,
    engine: Engine | None = None,
    chunk_chars: int = CHUNK_CHARS,
) -> dict[str, Any]:
    """Extract the feature sets ``options`` asks for (default :class:`FeatureOptions`: user
    1grams), skipping those already up to date.

    The tokenizing pass runs in partitions of about ``chunk_chars`` characters on ``engine``
    (a :mod:`psyprofile.engine` engine; default a local pool of ``workers`` processes); every
    engine gives the same tables.

    Returns ``{'level', 'sets': {name: {'features', 'groups', 'rows', 'seconds'} or
    {'skipped': note}}, 'notes': [...], 'groups', 'messages', ...}``.
    """
    o = options or FeatureOptions()
    ns = tuple(sorted(set(o.ngrams)))
    lengths = ch.checked_lengths(o.chars) if o.chars else None
    char_set = ch.set_name(*lengths) if lengths else None
    if any(n < 1 for n in ns):
        raise PsyprofileError(f"--ngrams takes lengths of 1 or more (got {list(ns)}).")
    if o.min_users_pct is not None and not 0 < o.min_users_pct < 1:
        raise PsyprofileError(
            f"--min-users-pct takes a share of groups between 0 and 1 (got {o.min_users_pct}); "
            "for 5% give 0.05."
        )
    notes: list[str] = []
    report: dict[str, Any] = {"level": o.level, "sets": {}, "notes": notes}
    if (o.lexica or o.pmi is not None) and 1 not in ns:
        ns = (1, *ns)
        notes.append("added 1grams: lexica and the PMI filter are computed from them")
    from psyprofile.features.lexicon import term_lengths
    from psyprofile.lexica.registry import resolve_lexicon

    lexs = [(ref, resolve_lexicon(ref, ws)) for ref in o.lexica]
    # multi-word terms are matched against 2grams/3grams: counted in the same pass, but not
    # part of the union the researcher asked for, nor filtered
    extra = {n for _, lex in lexs for n in term_lengths(lex)} - set(ns)
    if extra:
        notes.append(f"added {', '.join(f'{n}grams' for n in sorted(extra))}: the lexica's "
                     "multi-word terms are matched against them")
    all_ns = tuple(sorted({*ns, *extra}))
    with ws.connect() as con:
        level_expression(con, o.level)  # a clear error for an unknown level, before any work
        inputs = input_fingerprint(con)
        base = {"tokenizer": TOKENIZER, "min_words": o.min_words, "inputs": inputs}
        params = {ng.set_name(n): {**base, "n": n} for n in all_ns}
        combine = len(ns) > 1
        if combine:
            params[ng.combined_name(ns)] = {**base, "ns": list(ns)}
        if o.style:
            params[STYLE] = {**base, "style": 1}
        if char_set:
            params[char_set] = {**base, "chars": list(lengths)}
        stale = [name for name in params if not _up_to_date(con, name, o.level, params[name])]
        for name in params:
            if name not in stale:
                report["sets"][name] = {"skipped": _SKIPPED}
        if stale:
            union = ns if combine and ng.combined_name(ns) in stale else ()
            redo_ns = tuple(n for n in all_ns if n in union or ng.set_name(n) in stale)
            t0 = time.perf_counter()
            res = text_pass(con, o.level, redo_ns, union,
                            STYLE in stale, o.min_words, params, workers, progress,
                            chunk_chars, engine, lengths if char_set in stale else None)
            seconds = time.perf_counter() - t0
            for name, counts in res["sets"].items():
                report["sets"][name] = {**counts, "seconds": round(seconds, 2)}
            for key in ("messages", "groups", "excluded_min_words", "messages_without_group"):
                report[key] = res[key]
            if res["excluded_min_words"]:
                notes.append(f"{res['excluded_min_words']:,} {o.level} groups with fewer than "
                             f"{o.min_words} words left out of the n-gram, character and style tables")
            if res["messages_without_group"]:
                notes.append(f"{res['messages_without_group']:,} messages without a {o.level} "
                             "value skipped")
        # word and character n-grams the researcher asked for
        counted = [name for name in params if name != STYLE
                   and name not in {ng.set_name(n) for n in extra}]
        if o.min_users_pct is not None:
            w = int(o.min_words if o.min_words is not None else ws.config["min_words"])
            for name in counted:
                _filter(con, report, name, o.level, occ_name(name, o.min_users_pct),
                        {"p_occ": o.min_users_pct, "group_words_min": w},
                        lambda n, p, w=w: occurrence_filter(con, n, o.level, o.min_users_pct, w, p))
        if o.pmi is not None:
            for name in counted:
                if name in (ng.set_name(1), char_set):  # PMI is of word sequences
                    continue
                src = name if o.min_users_pct is None else occ_name(name, o.min_users_pct)
                _filter(con, report, src, o.level, pmi_name(src, o.pmi), {"pmi": o.pmi},
                        lambda n, p: pmi_filter(con, n, o.level, o.pmi, p))
    words_params = params.get(ng.set_name(1))
    for ref, lex in lexs:
        _lexicon(ws, report, ref, lex, o.level, words_params, progress)
    if o.embeddings:
        _embeddings(ws, report, o.embeddings, o.level, inputs, progress)
    return report


_SKIPPED = "up to date (same options and posts)"


def _filter(con, report: dict, name: str, level: str, new: str, options: dict, run) -> None:
    """Write filtered copy ``new`` of ``name`` with ``run(name, params)`` unless up to date."""
    request = {"source_params": feature_set_params(con, name, level), **options}
    if _stamped(con, new, level, request):
        report["sets"][new] = {"skipped": _SKIPPED}
        return
    t0 = time.perf_counter()
    res = run(name, {"request": request})
    report["sets"][res.pop("name")] = {**res, "seconds": round(time.perf_counter() - t0, 2)}


def _lexicon(ws: Workspace, report: dict, lexicon: str, lex: Lexicon, level: str, words_params: dict,
             progress: bool) -> None:
    from psyprofile.features.lexicon import extract_lexicon

    request = {**_lexicon_request(lexicon), "words": words_params}
    with ws.connect() as con:
        if _stamped(con, lex.name, level, request):
            report["sets"][lex.name] = {"skipped": _SKIPPED}
            return
    t0 = time.perf_counter()
    res = extract_lexicon(ws, lex, level=level, source_set=ng.set_name(1), progress=progress)
    with ws.connect() as con:
        _stamp(con, lex.name, level, request)
    report["sets"][lex.name] = {**res, "seconds": round(time.perf_counter() - t0, 2)}


def _embeddings(ws: Workspace, report: dict, model: str, level: str, inputs: dict,
                progress: bool) -> None:
    from psyprofile.features.embeddings import extract_embeddings, get_embedder

    # The exact runtime (ONNX build, library versions) is part of the key: vectors of a
    # rebuilt or different runtime must replace the stored set, not be skipped as current.
    emb = get_embedder(model)
    request = {"model": model, "runtime_id": emb.runtime_id, "inputs": inputs}
    with ws.connect() as con:
        if _stamped(con, model, level, request):
            report["sets"][model] = {"skipped": _SKIPPED}
            return
    t0 = time.perf_counter()
    res = extract_embeddings(ws, model=model, level=level, progress=progress, embedder=emb)
    with ws.connect() as con:
        _stamp(con, model, level, request)
    report["sets"][model] = {**res, "seconds": round(time.perf_counter() - t0, 2)}
