"""The blog corpus DLATK uses in its tutorial, as ``messages.parquet`` and ``users.csv``.

DLATK ships the corpus as a MySQL 5.7 dump (``dlatk/data/dla_tutorial.sql`` in its sdist):
table ``msgs`` (31,674 posts by 1,000 bloggers) and ``blog_outcomes`` (their gender, age,
occupation, star sign, ...). We parse the dump ourselves (no MySQL needed) and keep every
value exactly as dumped, including the corpus's own mojibake (``â€™`` and the like).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from psyprofile.datasets.dlatk_sdist import DLATK_VERSION, extract_member
from psyprofile.datasets.pypi import cache_dir
from psyprofile.errors import InputError

DUMP_MEMBER = "dlatk/data/dla_tutorial.sql"
MESSAGES_TABLE = "msgs"
USERS_TABLE = "blog_outcomes"
MESSAGE_COLUMNS = ("message_id", "user_id", "date", "created_time", "message")

# One SQL value as mysqldump writes it: a quoted string with backslash escapes (an unrolled,
# possessive loop: linear in the length of a post and the fastest form for Python's re), NULL,
# or a number. mysqldump never doubles quotes ('') inside strings, so neither do we.
_VALUE = r"'[^'\\]*+(?:\\.[^'\\]*+)*+'|NULL|-?[0-9]++(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?"
_INSERT = re.compile(r"INSERT INTO `([^`]+)`(?: \(([^)]*)\))? VALUES ")
_CREATE = re.compile(r"CREATE TABLE `([^`]+)` \(")
_COLUMN = re.compile(r"\s+`([^`]+)`")
_ESCAPE = re.compile(r"\\(.)", re.S)
# What a backslash escape stands for in a MySQL string literal; any other escaped character
# stands for itself, except \% and \_ which keep their backslash (MySQL's rule for LIKE).
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a",
            "%": "\\%", "_": "\\_"}
_ROWS_PER_GROUP = 20_000  # Parquet row group size for messages.parquet


def _unescape(m: re.Match) -> str:
    c = m.group(1)
    return _ESCAPES.get(c, c)


def _value(token: str) -> str | int | float | None:
    if token[0] == "'":
        body = token[1:-1]
        return _ESCAPE.sub(_unescape, body) if "\\" in body else body
    if token == "NULL":
        return None
    try:
        return int(token)
    except ValueError:
        return float(token)


@dataclass
class Insert:
    """The rows of one ``INSERT INTO table VALUES (...),(...);`` statement of a dump."""

    table: str
    columns: list[str]
    rows: list[tuple]
    line: int  # 1-based line where the statement starts


# The start of a row whose last string is still open: its value goes on over the next line.
_OPEN_ROW = re.compile(rf"\((?:(?:{_VALUE}),)*'[^'\\]*+(?:\\.[^'\\]*+)*+", re.S)


@functools.cache
def _row_pattern(n_cols: int) -> re.Pattern:
    values = ",".join([f"({_VALUE})"] * n_cols)
    return re.compile(rf"\({values}\)([,;])", re.S)


def parse_dump(stream: IO[bytes], name: str = "<dump>") -> Iterator[Insert]:
    """Yield each INSERT statement of a mysqldump file, values decoded and unescaped.

    ``stream`` is the dump opened in binary mode (decoded as UTF-8, as ``SET NAMES utf8mb4``
    says); ``name`` is used in error messages. Column names come from the statement's column
    list or else from the table's ``CREATE TABLE``. Strings stay ``str``, ``NULL`` is ``None``,
    integers ``int`` and other numbers ``float``. Raises :class:`InputError` naming the line
    on anything else.
    """
    tables: dict[str, list[str]] = {}
    creating: str | None = None
    lines = enumerate(stream, start=1)
    for lineno, raw in lines:
        line = _decode(raw, name, lineno)
        if creating is not None:
            col = _COLUMN.match(line)
            if col:
                tables[creating].append(col.group(1))
            elif line.startswith(")"):
                creating = None
            continue
        create = _CREATE.match(line)
        if create:
            creating = create.group(1)
            tables[creating] = []
            continue
        head = _INSERT.match(line)
        if not head:
            continue
        table = head.group(1)
        if head.group(2):
            columns = [c.strip().strip("`") for c in head.group(2).split(",")]
        elif table in tables:
            columns = tables[table]
        else:
            raise InputError(f"{name}, line {lineno}: INSERT INTO `{table}` without a column "
                             "list and no CREATE TABLE before it; cannot name its columns.")
        pattern = _row_pattern(len(columns))
        rows: list[tuple] = []
        buf, pos, start, end = line, head.end(), lineno, ""
        while end != ";":
            m = pattern.match(buf, pos)
            if m:
                rows.append(tuple(_value(t) for t in m.groups()[:-1]))
                pos, end = m.end(), m.group(len(columns) + 1)
                continue
            # mysqldump escapes newlines, but a hand-written dump may hold a raw one.
            nxt = next(lines, None) if _OPEN_ROW.fullmatch(buf, pos) else None
            if nxt is None:
                snippet = buf[pos:pos + 60].rstrip("\n")
                raise InputError(
                    f"{name}, line {start}: cannot parse row {len(rows) + 1} of INSERT INTO "
                    f"`{table}` ({len(columns)} values expected) near {snippet!r}. Is this a "
                    "complete mysqldump file?"
                )
            buf, pos = buf[pos:] + _decode(nxt[1], name, nxt[0]), 0
        yield Insert(table, columns, rows, start)


def _decode(raw: bytes, name: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}, line {lineno}: not UTF-8 at byte {exc.start + 1} of the line "
                         "(the dump should be written with SET NAMES utf8mb4).") from None


class _Progress:
    """A binary file wrapper that advances a byte progress bar as lines are read."""

    def __init__(self, f: IO[bytes], bar):
        self._f, self._bar = f, bar

    def __iter__(self) -> Iterator[bytes]:
        for line in self._f:
            self._bar.update(len(line))
            yield line


def _message_schema():
    import pyarrow as pa

    return pa.schema([("message_id", pa.int64()), ("user_id", pa.int64()),
                      ("date", pa.string()), ("created_time", pa.string()),
                      ("message", pa.string())])


def convert_dump(sql_path: Path, messages_out: Path, users_out: Path,
                 progress: bool = True) -> tuple[int, int]:
    """Write the dump's ``msgs`` rows to ``messages_out`` (Parquet: message_id, user_id int64;
    date, created_time, message strings) and ``blog_outcomes`` rows to ``users_out`` (CSV, its
    own columns, NULL as an empty field). Streams: at most one row group of posts is held.

    Returns ``(n_messages, n_users)``. Both files are written under temporary names and moved
    into place only when the whole dump has been read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    sql_path = Path(sql_path)
    schema = _message_schema()
    # Per-process temporary names: two first uses at once must not write into one file.
    tmp_msgs = messages_out.with_name(f".{messages_out.name}.{os.getpid()}.part")
    tmp_users = users_out.with_name(f".{users_out.name}.{os.getpid()}.part")
    n_msgs = n_users = 0
    pending: list[tuple] = []
    try:
        with open(sql_path, "rb") as f, \
                tqdm(total=sql_path.stat().st_size, unit="B", unit_scale=True,
                     desc="parse dla_tutorial.sql", disable=not progress) as bar, \
                pq.ParquetWriter(tmp_msgs, schema) as msgs, \
                open(tmp_users, "w", newline="", encoding="utf-8") as uf:
            users = csv.writer(uf, lineterminator="\n")
            wrote_header = False

            def flush() -> None:
                cols = list(zip(*pending, strict=True))
                msgs.write_table(pa.Table.from_arrays(
                    [pa.array(c, type=t) for c, t in zip(cols, schema.types, strict=True)],
                    schema=schema))
                pending.clear()

            for ins in parse_dump(_Progress(f, bar), name=str(sql_path)):
                if ins.table == MESSAGES_TABLE:
                    if tuple(ins.columns) != MESSAGE_COLUMNS:
                        raise InputError(
                            f"{sql_path}, line {ins.line}: table {MESSAGES_TABLE} has columns "
                            f"{ins.columns}, expected {list(MESSAGE_COLUMNS)}.")
                    pending.extend(ins.rows)
                    n_msgs += len(ins.rows)
                    if len(pending) >= _ROWS_PER_GROUP:
                        flush()
                elif ins.table == USERS_TABLE:
                    if not wrote_header:
                        users.writerow(ins.columns)
                        wrote_header = True
                    users.writerows(["" if v is None else v for v in row] for row in ins.rows)
                    n_users += len(ins.rows)
            if pending:
                flush()
        if not n_msgs or not n_users:
            raise InputError(f"{sql_path}: found {n_msgs} rows of `{MESSAGES_TABLE}` and "
                             f"{n_users} of `{USERS_TABLE}`; this is not DLATK's tutorial dump.")
        os.replace(tmp_msgs, messages_out)
        os.replace(tmp_users, users_out)
    finally:
        tmp_msgs.unlink(missing_ok=True)
        tmp_users.unlink(missing_ok=True)
    return n_msgs, n_users


def blog_corpus(progress: bool = True) -> tuple[Path, Path]:
    """The cached ``(messages.parquet, users.csv)`` of the blog corpus, built on first use
    from DLATK's sdist (downloaded with pip, ~35 MB, once)."""
    folder = cache_dir() / f"blogs-dlatk-{DLATK_VERSION}"
    messages, users = folder / "messages.parquet", folder / "users.csv"
    if messages.exists() and users.exists():
        return messages, users
    sql = extract_member(DUMP_MEMBER, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    convert_dump(sql, messages, users, progress=progress)
    return messages, users
