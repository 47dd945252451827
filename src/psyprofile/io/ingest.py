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

A run is stored whole or not at all. It commits in batches (one transaction for a whole run
held every file in memory), so a run that fails is deleted before the error is raised, and
a run whose process was killed is rolled back the next time the study is opened
(:func:`psyprofile.store.workspace.recover_runs`).

Privacy on the way in: file names (often a donor's name) are never stored or shown; each
file has a source label, a keyed hash of its name (``file-1a2b3c4d5e6f``) or one the
researcher chose (``source_labels``). A group column that holds user ids or handles
(:mod:`psyprofile.privacy.fields`) is refused unless raw ids are kept on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from psyprofile.engine import Engine, open_engine
from psyprofile.errors import InputError, PsyprofileError, printable
from psyprofile.io.base import (
    AUDIENCE,
    LANG,
    NO_TEXT,
    NO_USER,
    OPTIONAL_FIELDS,
    POST_FIELDS,
    Chunk,
    ColumnMap,
    FileInfo,
    Reject,
)
from psyprofile.io.formats import detect_format, get_reader
from psyprofile.privacy.fields import is_identity_field
from psyprofile.privacy.pseudonym import Pseudonymizer
from psyprofile.store.db import quote_ident, scalar
from psyprofile.store.schema import RESERVED_COLUMNS
from psyprofile.store.workspace import Workspace, delete_run_rows
from psyprofile.text.langid import UNKNOWN, detect_languages, platform_language

STORED = "stored"
DUPLICATE = "duplicate"
DUPLICATE_ID = "duplicate_id"
OTHER_LANGUAGE = "other_language"
TEXT_TOO_LONG = "text_too_long"
FOLLOWERS_ONLY = "followers_only"  # semi-private, left out with public_only
FOLLOWERS = "followers"
MAX_EXAMPLES = 100  # rejected rows kept as examples per file and reason
# Formats whose files hold many authors' posts (a user column, or Telegram's from_id: a chat
# export holds everyone in the chat): a donor id means nothing there.
MULTI_AUTHOR = frozenset({"csv", "tsv", "parquet", "jsonl", "reddit", "telegram"})
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


@dataclass
class FileReport:
    file: str
    format: str
    counts: Counter = field(default_factory=Counter)  # reason -> rows
    notes: list[str] = field(default_factory=list)
    examples: dict[str, list[Reject]] = field(default_factory=dict)
    # stored-or-not posts by where their language came from: 'platform' (the export's own
    # tag), 'detected', or 'und' (too little text once mentions and links are left out)
    languages: Counter = field(default_factory=Counter)
    followers: int = 0  # followers-only (semi-private) posts stored

    @property
    def rows_read(self) -> int:
        return sum(self.counts.values())

    def language_note(self) -> str | None:
        """One line on where the posts' languages came from, or None if no post got one."""
        if not self.languages:
            return None
        return (f"language of {sum(self.languages.values()):,} posts: "
                f"{self.languages['platform']:,} from the platform's tag, "
                f"{self.languages['detected']:,} detected, {self.languages[UNKNOWN]:,} "
                f"undetermined ('{UNKNOWN}': too little text without mentions and links)")


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
        for i, f in enumerate(self.files, 1):
            # the label, never the file name; the position tells which file it was
            lines.append(f"file {i}, {f.file} ({f.format}): {f.rows_read:,} rows read, "
                         f"{f.counts[STORED]:,} stored"
                         + (f", {f.followers:,} of them followers-only" if f.followers else ""))
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
            self.con.execute(f"ALTER TABLE messages ADD COLUMN {quote_ident(name)} VARCHAR")
            self.con.execute("INSERT INTO group_columns VALUES (?)", [name])
            self.group_columns.add(name)

    def write(self, table: pa.Table, groups: list[str]) -> tuple[int, int, int, int]:
        """Insert ``table`` in one transaction; returns (stored, duplicates, id conflicts,
        followers-only posts stored)."""
        self.con.execute("BEGIN")
        try:
            counts = self._write(table, groups)
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
        return counts

    def _write(self, table: pa.Table, groups: list[str]) -> tuple[int, int, int, int]:
        self.add_group_columns(groups)
        self.con.register("chunk", table)
        gsel = "".join(f", {quote_ident(g)}" for g in groups)
        self.con.execute(
            """
            CREATE OR REPLACE TEMP TABLE chunk_status AS
            WITH c AS (
                SELECT *, row_number() OVER (PARTITION BY post_key ORDER BY row) AS k
                FROM chunk
            )
            SELECT c.*, CASE
                WHEN k > 1 OR EXISTS (SELECT 1 FROM messages m WHERE m.post_key = c.post_key)
                    THEN ?
                WHEN row_number() OVER (PARTITION BY message_id ORDER BY row) > 1
                    OR EXISTS (SELECT 1 FROM messages m WHERE m.message_id = c.message_id)
                    THEN ?
                ELSE ? END AS status
            FROM c
            """,
            [DUPLICATE, DUPLICATE_ID, STORED],
        )
        self.con.execute(
            f"""
            INSERT INTO messages (message_id, post_key, user_id, created_at, text, lang, source,
                                  run_id, audience{gsel})
            SELECT message_id, post_key, user_id, time::TIMESTAMP, text, lang, source, ?,
                   audience{gsel}
            FROM chunk_status WHERE status = ? ORDER BY row
            """,
            [self.run_id, STORED],
        )
        if self.keep_raw_ids:
            self.con.execute(
                """
                INSERT INTO raw_ids
                SELECT DISTINCT user_id, raw_user FROM chunk_status
                WHERE status = ? AND user_id NOT IN (SELECT user_id FROM raw_ids)
                """,
                [STORED],
            )
        followers = scalar(self.con, "SELECT count(*) FROM chunk_status WHERE status = ? "
                           "AND audience = ?", [STORED, FOLLOWERS])
        counts = dict(self.con.execute("SELECT status, count(*) FROM chunk_status GROUP BY status").fetchall())
        self.con.unregister("chunk")
        return (counts.get(STORED, 0), counts.get(DUPLICATE, 0), counts.get(DUPLICATE_ID, 0),
                int(followers))


def _optional(t: pa.Table, name: str) -> list[str | None]:
    """An optional reader column (see :data:`psyprofile.io.base.OPTIONAL_FIELDS`) as a list;
    all null when the reader does not give it."""
    return t[name].to_pylist() if name in t.column_names else [None] * t.num_rows


def _prepare(
    chunk: Chunk,
    source: str,
    users,
    messages,
    language: str | None,
    max_chars: int,
    report: FileReport,
    public_only: bool = False,
) -> tuple[pa.Table, list[str]]:
    """Reject unusable rows of one chunk and add the derived columns; returns the rest."""
    t = chunk.table
    for r in chunk.rejects:
        _count(report, r.reason, r)
    reasons = [
        (NO_TEXT, _blank(t["text"])),
        (NO_USER, _blank(t["user"])),
    ]
    if public_only and AUDIENCE in t.column_names:
        reasons.append((FOLLOWERS_ONLY, pc.fill_null(pc.equal(t[AUDIENCE], FOLLOWERS), False)))
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
    langs = _languages(texts, _optional(t, LANG), report)
    audience = [FOLLOWERS if a == FOLLOWERS else None for a in _optional(t, AUDIENCE)]
    groups = [c for c in chunk.table.column_names if c not in POST_FIELDS + OPTIONAL_FIELDS]
    t = t.select([*POST_FIELDS, *groups])
    t = t.append_column("user_id", pa.array(user_ids, pa.string()))
    t = t.append_column("raw_user", pa.array(raw_users, pa.string()))
    t = t.append_column("post_key", pa.array(post_keys, pa.string()))
    t = t.append_column("message_id", pa.array(message_ids, pa.string()))
    t = t.append_column("lang", pa.array(langs, pa.string()))
    t = t.append_column("audience", pa.array(audience, pa.string()))
    t = t.append_column("source", pa.array([source] * t.num_rows, pa.string()))
    if language:
        other = pc.not_equal(t["lang"], language)
        for row in pc.filter(t["row"], other).to_pylist():
            _count(report, OTHER_LANGUAGE, Reject(row, OTHER_LANGUAGE))
        t = t.filter(pc.invert(other))
    return t, groups


def _languages(texts: list[str], tags: list[str | None], report: FileReport) -> list[str]:
    """Per post the platform's own language tag when it has a usable one, else the language
    detected on its text (mentions and links left out); counts both in ``report``."""
    langs = [platform_language(tag) for tag in tags]
    todo = [i for i, code in enumerate(langs) if code is None]
    report.languages["platform"] += len(langs) - len(todo)
    for i, code in zip(todo, detect_languages([texts[i] for i in todo]), strict=True):
        langs[i] = code
        report.languages[UNKNOWN if code == UNKNOWN else "detected"] += 1
    return langs


@dataclass
class _Job:
    """One partition to prepare in a worker (the study key travels, not a keyed hash
    object, which cannot be pickled)."""

    chunk: Chunk
    source: str
    key: bytes
    language: str | None
    max_chars: int
    public_only: bool


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
                             Pseudonymizer(job.key, "message"), job.language, job.max_chars, part,
                             job.public_only)
    return _Prepared(table, groups, part, job.chunk.table.num_rows + len(job.chunk.rejects))


def _merge(report: FileReport, part: FileReport) -> None:
    report.counts.update(part.counts)
    report.languages.update(part.languages)
    for reason, rejects in part.examples.items():
        ex = report.examples.setdefault(reason, [])
        ex.extend(rejects[:MAX_EXAMPLES - len(ex)])


def _flush(writer: _Writer, pending: list[pa.Table], groups: list[str], report: FileReport) -> None:
    if not pending:
        return
    stored, dup, dup_id, followers = writer.write(pa.concat_tables(pending), groups)
    pending.clear()
    report.counts[STORED] += stored
    report.counts[DUPLICATE] += dup
    report.counts[DUPLICATE_ID] += dup_id
    report.followers += followers


def _count(report: FileReport, reason: str, reject: Reject | None = None, n: int = 1) -> None:
    report.counts[reason] += n
    if reject is not None:
        ex = report.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            # details are stored and printed: no control bytes, no whole lines
            detail = printable(reject.detail, 120) if reject.detail else ""
            ex.append(Reject(reject.row, reject.reason, detail))


def check_options(
    paths: list[Path],
    fmt: str,
    columns: ColumnMap,
    language: str | None,
    keep_raw_ids: bool,
    max_chars: int,
    chunk_rows: int,
    donor_id: str | None,
    source_labels: list[str],
) -> None:
    """Refuse bad options before any work starts (no run, no progress bar)."""
    if fmt != "auto":
        get_reader(fmt)
    for p in paths:
        if not p.exists():
            raise InputError(f"{printable(p, 200)}: no such file or folder.")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise InputError(f"--language {printable(language)}: give an ISO 639-1 code such as en or de.")
    if max_chars < 1 or chunk_rows < 1:
        raise InputError("--max-chars and --partition-rows take a number of 1 or more.")
    if donor_id is not None:
        if not donor_id.strip():
            raise InputError("--donor-id is empty; give the id the donor has in your study.")
        if fmt in MULTI_AUTHOR:
            raise InputError(
                f"--donor-id names the donor of one person's export (an X archive, a Mastodon "
                f"export, ...); a {fmt} file holds many authors' posts, whose ids come from "
                "the file itself (its user column, --user-col; a Telegram message's sender). "
                "Leave --donor-id out.")
    if source_labels and len(source_labels) not in (1, len(paths)):
        raise InputError(f"--source-label: give one label, or one per file ({len(paths)}), "
                         f"not {len(source_labels)}.")
    for label in source_labels:
        if not _LABEL.fullmatch(label):
            raise InputError(
                f"--source-label {printable(label)}: use 1 to 64 letters, digits, '.', '_' or "
                "'-', starting with a letter or digit (it is stored; do not use a person's name).")
    given = {getattr(columns, f): f for f in ("text", "user", "time", "id") if getattr(columns, f)}
    for name in columns.groups:
        shown = printable(name)
        if name in given:
            raise InputError(f"--group-col {shown} is the {given[name]} column of the posts; "
                             "a group column must be another column.")
        if is_identity_field(name) and not keep_raw_ids:
            raise InputError(
                f"--group-col {shown} looks like a user id, handle or name field. Group columns "
                "are stored and exported in clear text, so it would undo the pseudonymous ids. "
                "Give a group level that is not an identity (region, community, condition), or "
                "add --keep-raw-ids if the study may hold raw ids.")
        if name.lower() in {*POST_FIELDS, *OPTIONAL_FIELDS} or name in RESERVED_COLUMNS:
            raise InputError(
                f"--group-col {shown} is one of the columns every post has (text, user, time, "
                "id, lang, ...), not a group level; give a column such as region or community.")
        if not name.strip():
            raise InputError("--group-col: a group column needs a name.")


def source_label(key: bytes, path: Path) -> str:
    """The stored name of an input file: a keyed hash of its name (``file-<12 hex>``), the
    same for the same name in the same study, which does not reveal the name."""
    return "file-" + Pseudonymizer(key, "source")(path.name)[:12]


def _labels(key: bytes, paths: list[Path], chosen: list[str]) -> list[str]:
    if not chosen:
        return [source_label(key, p) for p in paths]
    if len(chosen) == len(paths):
        return list(chosen)
    return [chosen[0] if len(paths) == 1 else f"{chosen[0]}-{i}" for i in range(1, len(paths) + 1)]


def _hide_names(text: str, path: Path, label: str) -> str:
    """A reader's note with the file's path and name replaced by its label."""
    for name in (str(path.resolve()), str(path), path.name):
        text = text.replace(name, label)
    return text


def _with_donor(chunk: Chunk, donor_id: str) -> Chunk:
    """``chunk`` with every post's user set to ``donor_id`` (one person's export)."""
    t = chunk.table
    i = t.column_names.index("user")
    return Chunk(t.set_column(i, "user", pa.array([donor_id] * t.num_rows, pa.string())),
                 chunk.rejects)


def _donor_refused(label: str, fmt: str) -> InputError:
    return InputError(f"{label} ({fmt}): --donor-id is for one person's export, but this file "
                      "holds many authors' posts; leave --donor-id out.")


def _chunks(path: Path, fmt: str, columns: ColumnMap, info: FileInfo, chunk_rows: int,
            label: str, donor_id: str | None) -> Iterator[Chunk]:
    """The reader's chunks of ``path``, with the donor filled in for one person's export."""
    for chunk in get_reader(fmt)(path, columns, info, chunk_rows):
        if donor_id is not None:
            if not info.single_person:
                raise _donor_refused(label, fmt)
            chunk = _with_donor(chunk, donor_id)
        elif info.single_person and chunk.table.num_rows and pc.any(_blank(chunk.table["user"])).as_py():
            raise InputError(
                f"{label} ({fmt}): this is one person's export without an account id, so its "
                "posts have no author. Name the donor with --donor-id ID (the id they have in "
                "your study; it is pseudonymised like any user id).")
        yield chunk


class Terminated(PsyprofileError):
    """The run was stopped by SIGTERM (and rolled back)."""


class _Stop:
    """Whether SIGTERM arrived during run ``run_id``; :meth:`check` stops the run there."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.requested = False

    def check(self) -> None:
        if self.requested:
            raise Terminated(f"ingest stopped by SIGTERM; run {self.run_id} was rolled back.")


@contextmanager
def _sigterm_stops(run_id: int) -> Iterator[_Stop]:
    """Record SIGTERM while run ``run_id`` writes; the run checks for it between batches and is
    rolled back on the way out (a kill -9 cannot be caught: the next open of the study rolls
    that run back). The handler only records: raising from it would interrupt whatever DuckDB
    is running, and a COMMIT interrupted that way escaped as a bare "Query interrupted". A
    second SIGTERM gets the previous handler (by default: the process ends at once, as with a
    kill -9), for a run stuck where it never checks; one that arrives after the last check
    is passed on once the run has finished."""
    stop = _Stop(run_id)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = signal.getsignal(signal.SIGTERM)

    def _stop(signum, frame):
        stop.requested = True
        signal.signal(signal.SIGTERM, old)

    signal.signal(signal.SIGTERM, _stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, old)
    if stop.requested:  # reached only when the run finished before it could stop
        signal.raise_signal(signal.SIGTERM)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


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
    donor_id: str | None = None,
    source_labels: list[str] | tuple[str, ...] = (),
    public_only: bool = False,
) -> IngestReport:
    """Load posts from ``paths`` into the workspace; returns what was stored and skipped.

    ``fmt`` is one of :data:`psyprofile.io.formats.FORMATS` or ``'auto'`` (by extension
    and content). ``language`` (ISO 639-1, e.g. ``'en'``) keeps only posts in that language:
    the platform's own tag when the export has one, else the language detected on the text.
    ``donor_id`` names the author of one person's export (``FileInfo.single_person``: every
    post is theirs; pseudonymised like any user id); such an export without an account id
    needs it. ``source_labels``: the stored names of the files (one, or one per file;
    default a keyed hash of each file name). ``public_only`` leaves followers-only posts out
    (counted as ``followers_only``). Memory is bounded by ``chunk_rows`` posts at a time (per
    partition in flight). Partitions are prepared on ``engine`` (default: in this process).
    The run is stored whole or not at all.
    """
    columns = columns or ColumnMap()
    paths = [Path(p) for p in paths]
    source_labels = list(source_labels)
    check_options(paths, fmt, columns, language, keep_raw_ids, max_chars, chunk_rows,
                  donor_id, source_labels)
    donor = donor_id.strip() if donor_id is not None else None
    key = ws.key()
    labels = _labels(key, paths, source_labels)
    options = {
        "format": fmt, "columns": columns.__dict__ | {"groups": list(columns.groups)},
        "language": language, "keep_raw_ids": keep_raw_ids, "max_chars": max_chars,
        "donor_id": donor is not None, "public_only": public_only,
    }
    reports: list[FileReport] = []
    with ws.connect() as con, open_engine(engine, workers=1) as eng:
        run_id = scalar(con, "SELECT nextval('ingest_run_seq')")
        with ws.active_run(run_id), _sigterm_stops(run_id) as stop:
            con.execute(
                "INSERT INTO ingest_runs (run_id, started_at, files, options, status) "
                "VALUES (?, ?, ?, ?, 'running')", [run_id, _now(), labels, json.dumps(options)])
            writer = _Writer(con, run_id, keep_raw_ids)
            bar = tqdm(desc="ingest", unit=" rows", unit_scale=True, disable=not progress,
                       smoothing=0.1)
            try:
                for path, label in zip(paths, labels, strict=True):
                    reports.append(_ingest_file(con, eng, writer, stop, bar, path, label, fmt, columns,
                                                key, language, max_chars, chunk_rows, donor,
                                                public_only))
                stop.check()
            except BaseException:
                _roll_back(con, run_id)
                raise
            finally:
                bar.close()
            rep = IngestReport(run_id, reports)
            con.execute(
                "UPDATE ingest_runs SET status = 'done', finished_at = ?, rows_read = ?, "
                "rows_stored = ? WHERE run_id = ?", [_now(), rep.rows_read, rep.rows_stored, run_id])
    return rep


def _roll_back(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """A run is stored whole or not at all: drop what its committed batches added."""
    try:
        con.execute("BEGIN")
        delete_run_rows(con, run_id)
        con.execute("UPDATE ingest_runs SET status = 'failed', finished_at = ?, rows_stored = 0 "
                    "WHERE run_id = ?", [_now(), run_id])
        con.execute("COMMIT")
    except duckdb.Error:
        pass  # the run stays 'running': the next open of the study rolls it back


def _ingest_file(con: duckdb.DuckDBPyConnection, eng: Engine, writer: _Writer, stop: _Stop, bar, path: Path,
                 label: str, fmt: str, columns: ColumnMap, key: bytes, language: str | None,
                 max_chars: int, chunk_rows: int, donor: str | None,
                 public_only: bool) -> FileReport:
    """Read, prepare and store one file of a run; returns its counts (also logged)."""
    fmt_used = detect_format(path) if fmt == "auto" else fmt
    if donor is not None and fmt_used in MULTI_AUTHOR:
        raise _donor_refused(label, fmt_used)
    info = FileInfo(format=fmt_used)
    report = FileReport(file=label, format=fmt_used)
    bar.set_postfix_str(label)
    # Readers may yield small batches; each write checks the whole table for repeats, so
    # write in batches of about chunk_rows. Each batch commits on its own: one transaction
    # per file made DuckDB hold the whole file in memory (5 GB for 1M posts).
    pending: list[pa.Table] = []
    groups: list[str] = []
    jobs = (_Job(chunk, label, key, language, max_chars, public_only)
            for chunk in _chunks(path, fmt_used, columns, info, chunk_rows, label, donor))
    for done in eng.map(_prepare_part, jobs, desc=f"parse {label}", progress=False):
        stop.check()  # before each write: parts arrive more often than writes
        _merge(report, done.report)
        groups = done.groups
        if done.table.num_rows:
            pending.append(done.table)
        if sum(t.num_rows for t in pending) >= chunk_rows:
            _flush(writer, pending, groups, report)
        bar.update(done.rows_in)
    _flush(writer, pending, groups, report)
    report.notes = [_hide_names(n, path, label) for n in info.notes]
    note = report.language_note()
    if note:
        report.notes.append(note)
    report.counts = +report.counts  # drop zero counts
    _log_file(con, writer.run_id, report)
    return report


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
    con.execute("INSERT INTO ingest_files VALUES (?, ?, ?)", [run_id, report.file, report.format])
    if report.notes:
        con.executemany("INSERT INTO ingest_notes VALUES (?, ?, ?)",
                        [[run_id, report.file, n] for n in report.notes])


def read_ingest_options(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The options every ingest run was started with, by run id: ``{'run_id', 'options'}``
    (``options`` parsed from JSON)."""
    return [{"run_id": r, "options": json.loads(o) if o else {}} for r, o in
            con.execute("SELECT run_id, options FROM ingest_runs ORDER BY run_id").fetchall()]
