"""Ingestion: read posts in any supported format into the study workspace.

For every chunk a reader yields, the pipeline rejects unusable rows (counting each
reason), pseudonymises user and message ids with the study key, drops exact repeats of
a user's post (so ingesting a file twice adds nothing), detects the language, and
appends the rest to ``messages``. Every row read ends up counted under exactly one
reason in ``ingest_log`` ('stored' included), so nothing disappears unseen.

The per-row work (validation, keyed hashes, language detection) runs on an engine
(:mod:`psyprofile.engine`), one reader chunk per partition; the driver, the only DuckDB
writer, commits the prepared partitions in file order. A partition whose worker dies is run
again and committed once, so the stored rows are the same on every engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from psyprofile.engine import Engine, open_engine
from psyprofile.errors import InputError
from psyprofile.io.base import NO_TEXT, NO_USER, Chunk, ColumnMap, FileInfo, Reject
from psyprofile.io.formats import detect_format, get_reader
from psyprofile.privacy.pseudonym import Pseudonymizer
from psyprofile.store.db import scalar
from psyprofile.store.schema import RESERVED_COLUMNS
from psyprofile.store.workspace import Workspace
from psyprofile.text.langid import detect_languages

STORED = "stored"
DUPLICATE = "duplicate"
DUPLICATE_ID = "duplicate_id"
OTHER_LANGUAGE = "other_language"
TEXT_TOO_LONG = "text_too_long"
MAX_EXAMPLES = 100  # rejected rows kept as examples per file and reason


@dataclass
class FileReport:
    file: str
    format: str
    counts: Counter = field(default_factory=Counter)  # reason -> rows
    notes: list[str] = field(default_factory=list)
    examples: dict[str, list[Reject]] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return sum(self.counts.values())


@dataclass
class IngestReport:
    run_id: int
    files: list[FileReport]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_stored(self) -> int:
        return sum(f.counts[STORED] for f in self.files)

    def rejected(self) -> Counter:
        """Rows not stored, by reason, over all files."""
        out: Counter = Counter()
        for f in self.files:
            out.update({k: v for k, v in f.counts.items() if k != STORED})
        return out

    def summary(self) -> str:
        lines = []
        for f in self.files:
            lines.append(f"{f.file} ({f.format}): {f.rows_read:,} rows read, {f.counts[STORED]:,} stored")
            for note in f.notes:
                lines.append(f"  note: {note}")
            for reason, n in sorted(f.counts.items(), key=lambda kv: -kv[1]):
                if reason == STORED:
                    continue
                ex = f.examples.get(reason, [])
                where = ""
                if ex:
                    rows = ", ".join(str(r.row) for r in ex[:5])
                    where = f" (e.g. row {rows}" + (f": {ex[0].detail}" if ex[0].detail else "") + ")"
                lines.append(f"  skipped {n:,} {reason.replace('_', ' ')}{where}")
        lines.append(
            f"run {self.run_id}: {self.rows_read:,} rows read, {self.rows_stored:,} stored, "
            f"{sum(self.rejected().values()):,} skipped"
        )
        return "\n".join(lines)


def _blank(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))


def _post_key(user: str, time: dt.datetime | None, text: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(user.encode())
    h.update(b"\x00" + (time.isoformat() if time else "").encode() + b"\x00")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class _Writer:
    """Appends prepared chunks to ``messages`` and sorts out repeats."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: int, keep_raw_ids: bool):
        self.con = con
        self.run_id = run_id
        self.keep_raw_ids = keep_raw_ids
        self.group_columns = {r[0] for r in con.execute("SELECT name FROM group_columns").fetchall()}

    def add_group_columns(self, names: list[str]) -> None:
        for name in names:
            if name in self.group_columns:
                continue
            if name in RESERVED_COLUMNS:
                raise InputError(f"group column '{name}' clashes with a built-in column; rename it.")
            self.con.execute(f'ALTER TABLE messages ADD COLUMN "{name}" VARCHAR')
            self.con.execute("INSERT INTO group_columns VALUES (?)", [name])
            self.group_columns.add(name)

    def write(self, table: pa.Table, groups: list[str]) -> tuple[int, int, int]:
        """Insert ``table`` in one transaction; returns (stored, duplicates, id conflicts)."""
        self.con.execute("BEGIN")
        try:
            counts = self._write(table, groups)
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
        return counts

    def _write(self, table: pa.Table, groups: list[str]) -> tuple[int, int, int]:
        self.add_group_columns(groups)
        self.con.register("chunk", table)
        gsel = "".join(f', "{g}"' for g in groups)
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE chunk_status AS
            WITH c AS (
                SELECT *, row_number() OVER (PARTITION BY post_key ORDER BY row) AS k
                FROM chunk
            )
            SELECT c.*, CASE
                WHEN k > 1 OR EXISTS (SELECT 1 FROM messages m WHERE m.post_key = c.post_key)
                    THEN '{DUPLICATE}'
                WHEN row_number() OVER (PARTITION BY message_id ORDER BY row) > 1
                    OR EXISTS (SELECT 1 FROM messages m WHERE m.message_id = c.message_id)
                    THEN '{DUPLICATE_ID}'
                ELSE '{STORED}' END AS status
            FROM c
            """
        )
        self.con.execute(
            f"""
            INSERT INTO messages (message_id, post_key, user_id, created_at, text, lang, source, run_id{gsel})
            SELECT message_id, post_key, user_id, time::TIMESTAMP, text, lang, source, {self.run_id}{gsel}
            FROM chunk_status WHERE status = '{STORED}' ORDER BY row
            """
        )
        if self.keep_raw_ids:
            self.con.execute(
                """
                INSERT INTO raw_ids
                SELECT DISTINCT user_id, raw_user FROM chunk_status
                WHERE status = 'stored' AND user_id NOT IN (SELECT user_id FROM raw_ids)
                """
            )
        counts = dict(self.con.execute("SELECT status, count(*) FROM chunk_status GROUP BY status").fetchall())
        self.con.unregister("chunk")
        return counts.get(STORED, 0), counts.get(DUPLICATE, 0), counts.get(DUPLICATE_ID, 0)


def _prepare(
    chunk: Chunk,
    source: str,
    users,
    messages,
    language: str | None,
    max_chars: int,
    report: FileReport,
) -> tuple[pa.Table, list[str]]:
    """Reject unusable rows of one chunk and add the derived columns; returns the rest."""
    t = chunk.table
    for r in chunk.rejects:
        _count(report, r.reason, r)
    reasons = [
        (NO_TEXT, _blank(t["text"])),
        (NO_USER, _blank(t["user"])),
    ]
    keep = pa.chunked_array([pa.array([True] * t.num_rows, pa.bool_())]) if t.num_rows else None
    for reason, bad in reasons:
        bad = pc.and_(bad, keep) if keep is not None else bad
        for row in pc.filter(t["row"], bad).to_pylist():
            _count(report, reason, Reject(row, reason))
        keep = pc.and_(keep, pc.invert(bad)) if keep is not None else None
    if keep is not None:
        too_long = pc.and_(keep, pc.greater(pc.utf8_length(t["text"]), max_chars))
        for row in pc.filter(t["row"], too_long).to_pylist():
            _count(report, TEXT_TOO_LONG, Reject(row, TEXT_TOO_LONG, f"over {max_chars:,} characters; raise --max-chars to keep it"))
        keep = pc.and_(keep, pc.invert(too_long))
        t = t.filter(keep)
    texts = t["text"].to_pylist()
    raw_users = [u.strip() for u in t["user"].to_pylist()]
    times = t["time"].to_pylist()
    ids = t["id"].to_pylist()
    user_ids = [users(u) for u in raw_users]
    post_keys = [_post_key(u, tm, tx) for u, tm, tx in zip(user_ids, times, texts, strict=True)]
    message_ids = [pk if i is None or not str(i).strip() else messages(str(i).strip()) for i, pk in zip(ids, post_keys, strict=True)]
    langs = detect_languages(texts)
    t = t.append_column("user_id", pa.array(user_ids, pa.string()))
    t = t.append_column("raw_user", pa.array(raw_users, pa.string()))
    t = t.append_column("post_key", pa.array(post_keys, pa.string()))
    t = t.append_column("message_id", pa.array(message_ids, pa.string()))
    t = t.append_column("lang", pa.array(langs, pa.string()))
    t = t.append_column("source", pa.array([source] * t.num_rows, pa.string()))
    if language:
        other = pc.not_equal(t["lang"], language)
        for row in pc.filter(t["row"], other).to_pylist():
            _count(report, OTHER_LANGUAGE, Reject(row, OTHER_LANGUAGE))
        t = t.filter(pc.invert(other))
    groups = [c for c in chunk.table.column_names if c not in ("row", "id", "user", "text", "time")]
    return t, groups


@dataclass
class _Job:
    """One partition to prepare in a worker (the study key travels, not a keyed hash
    object, which cannot be pickled)."""

    chunk: Chunk
    source: str
    key: bytes
    language: str | None
    max_chars: int


@dataclass
class _Prepared:
    table: pa.Table
    groups: list[str]
    report: FileReport  # rejects of this partition only
    rows_in: int


def _prepare_part(job: _Job) -> _Prepared:
    """:func:`_prepare` of one partition, in a worker."""
    part = FileReport(file=job.source, format="")
    table, groups = _prepare(job.chunk, job.source, Pseudonymizer(job.key, "user"),
                             Pseudonymizer(job.key, "message"), job.language, job.max_chars, part)
    return _Prepared(table, groups, part, job.chunk.table.num_rows + len(job.chunk.rejects))


def _merge(report: FileReport, part: FileReport) -> None:
    report.counts.update(part.counts)
    for reason, rejects in part.examples.items():
        ex = report.examples.setdefault(reason, [])
        ex.extend(rejects[:MAX_EXAMPLES - len(ex)])


def _flush(writer: _Writer, pending: list[pa.Table], groups: list[str], report: FileReport) -> None:
    if not pending:
        return
    stored, dup, dup_id = writer.write(pa.concat_tables(pending), groups)
    pending.clear()
    report.counts[STORED] += stored
    report.counts[DUPLICATE] += dup
    report.counts[DUPLICATE_ID] += dup_id


def _count(report: FileReport, reason: str, reject: Reject | None = None, n: int = 1) -> None:
    report.counts[reason] += n
    if reject is not None:
        ex = report.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(reject)


def ingest(
    ws: Workspace,
    paths: list[str | Path],
    fmt: str = "auto",
    columns: ColumnMap | None = None,
    language: str | None = None,
    keep_raw_ids: bool = False,
    max_chars: int = 200_000,
    chunk_rows: int = 50_000,
    progress: bool = True,
    engine: Engine | None = None,
) -> IngestReport:
    """Load posts from ``paths`` into the workspace; returns what was stored and skipped.

    ``fmt`` is one of :data:`psyprofile.io.formats.FORMATS` or ``'auto'`` (by extension
    and content). ``language`` (ISO 639-1, e.g. ``'en'``) keeps only posts detected as
    that language. Memory is bounded by ``chunk_rows`` posts at a time (per partition in
    flight). Partitions are prepared on ``engine`` (default: in this process).
    """
    columns = columns or ColumnMap()
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder.")
    key = ws.key()
    options = {
        "format": fmt, "columns": columns.__dict__ | {"groups": list(columns.groups)},
        "language": language, "keep_raw_ids": keep_raw_ids, "max_chars": max_chars,
    }
    reports: list[FileReport] = []
    with ws.connect() as con, open_engine(engine, workers=1) as eng:
        run_id = scalar(con, "SELECT nextval('ingest_run_seq')")
        con.execute(
            "INSERT INTO ingest_runs (run_id, started_at, files, options, status) VALUES (?, ?, ?, ?, 'running')",
            [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), [str(p) for p in paths], json.dumps(options)],
        )
        writer = _Writer(con, run_id, keep_raw_ids)
        current: Path | None = None
        bar = tqdm(desc="ingest", unit=" rows", unit_scale=True, disable=not progress, smoothing=0.1)
        try:
            for path in paths:
                current = path
                fmt_used = detect_format(path) if fmt == "auto" else fmt
                info = FileInfo(format=fmt_used)
                report = FileReport(file=str(path), format=fmt_used)
                reports.append(report)
                bar.set_postfix_str(path.name)
                # Readers may yield small batches; each write checks the whole table for
                # repeats, so write in batches of about chunk_rows. Each batch commits on
                # its own: one transaction per file made DuckDB hold the whole file in
                # memory (5 GB for 1M posts).
                pending: list[pa.Table] = []
                groups: list[str] = []
                jobs = (_Job(chunk, path.name, key, language, max_chars)
                        for chunk in get_reader(fmt_used)(path, columns, info, chunk_rows))
                for done in eng.map(_prepare_part, jobs, desc=f"parse {path.name}",
                                    progress=False):
                    _merge(report, done.report)
                    groups = done.groups
                    if done.table.num_rows:
                        pending.append(done.table)
                    if sum(t.num_rows for t in pending) >= chunk_rows:
                        _flush(writer, pending, groups, report)
                    bar.update(done.rows_in)
                _flush(writer, pending, groups, report)
                report.notes = list(info.notes)
                report.counts = +report.counts  # drop zero counts
                _log_file(con, run_id, report)
                current = None
        except BaseException:
            if current is not None:
                # A file is stored whole or not at all: drop what its committed batches added.
                con.execute("DELETE FROM messages WHERE run_id = ? AND source = ?", [run_id, current.name])
            con.execute("UPDATE ingest_runs SET status = 'failed', finished_at = ? WHERE run_id = ?",
                        [dt.datetime.now(dt.UTC).replace(tzinfo=None), run_id])
            raise
        finally:
            bar.close()
        rep = IngestReport(run_id, reports)
        con.execute(
            "UPDATE ingest_runs SET status = 'done', finished_at = ?, rows_read = ?, rows_stored = ? WHERE run_id = ?",
            [dt.datetime.now(dt.UTC).replace(tzinfo=None), rep.rows_read, rep.rows_stored, run_id],
        )
    return rep


def _log_file(con: duckdb.DuckDBPyConnection, run_id: int, report: FileReport) -> None:
    if report.counts:  # an empty file has no counts (DuckDB refuses an empty executemany)
        con.executemany(
            "INSERT INTO ingest_log VALUES (?, ?, ?, ?)",
            [[run_id, report.file, reason, n] for reason, n in sorted(report.counts.items())],
        )
    examples = [
        [run_id, report.file, r.row, reason, r.detail]
        for reason, rs in report.examples.items() for r in rs
    ]
    if examples:
        con.executemany("INSERT INTO ingest_rejects VALUES (?, ?, ?, ?, ?)", examples)
    if report.notes:
        con.executemany("INSERT INTO ingest_notes VALUES (?, ?, ?)", [[run_id, report.file, n] for n in report.notes])
