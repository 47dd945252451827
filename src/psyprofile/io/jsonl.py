"""JSON lines (.jsonl, .ndjson, .json; plain, .gz or .zst): one post per line, columns by name.

Also the streaming pieces the other JSON-based formats share: opening compressed files,
reading records line by line or element by element from a large JSON array, checking
value types, and gathering posts into :class:`~psyprofile.io.base.Chunk` s. Nothing here
holds more than one chunk of posts (or one JSON array element) in memory.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from psyprofile.errors import InputError, printable
from psyprofile.io.base import (
    BAD_JSON,
    DEFAULT_LIMITS,
    OPTIONAL_FIELDS,
    WRONG_TYPE,
    Chunk,
    ColumnMap,
    FileInfo,
    Limits,
    Reject,
)
from psyprofile.io.bounds import iter_lines as iter_raw_lines
from psyprofile.io.bounds import loads, open_binary
from psyprofile.io.tabular import CANDIDATES, resolve_columns, to_chunk

# Keys of the first records that tell which columns a JSON lines file has.
SAMPLE_RECORDS = 1000
# Dotted names of nested fields worth finding without an option (tweets as JSON lines).
NESTED_CANDIDATES: dict[str, tuple[str, ...]] = {
    "user": ("user.id_str", "user.id", "user.screen_name", "author.id", "author.username"),
    "id": ("id_str",),
}
# Objects nested deeper than this are one column (and never walked into by recursion).
MAX_NAME_DEPTH = 8
_SPACE = " \t\r\n"
_FIELDS = ("id", "user", "text", "time")
_IDENTITY = {f: f for f in _FIELDS}


class WrongType(ValueError):
    """A JSON value of a type that cannot stand for the field it was found in."""


class NoArray(ValueError):
    """The text has no JSON array where one was expected."""


def peek_text(path: Path, n: int = 1 << 16) -> str:
    """The first ``n`` bytes of ``path`` (decompressed), decoded leniently, BOM removed.

    A broken compressed stream gives what could be read: reading it will say more.
    """
    head = b""
    with open_binary(path) as fh:
        try:
            while len(head) < n and (piece := fh.read1(min(n - len(head), 1 << 14))):
                head += piece
        except InputError:
            pass
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _bad_json(row: int, exc: Exception) -> Reject:
    if isinstance(exc, json.JSONDecodeError):
        return Reject(row, BAD_JSON, f"not valid JSON: {exc.msg} (column {exc.colno})")
    if isinstance(exc, UnicodeDecodeError):
        return Reject(row, BAD_JSON, f"not valid UTF-8 (byte {exc.start + 1} of the line)")
    return Reject(row, BAD_JSON, f"not valid JSON: {exc}")


def iter_lines(fh: IO[bytes], limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value or :class:`Reject`) for each non-blank line of ``fh``.

    A line over ``limits.line`` bytes is a ``line_too_long`` reject, never read whole.
    """
    for n, line in iter_raw_lines(fh, limits.line):
        if isinstance(line, Reject):
            yield n, line
            continue
        if not line.strip():
            continue
        try:
            # Decoding first spares json.loads its encoding guess on every line.
            text = line.decode("utf-8-sig" if n == 1 else "utf-8")
            yield n, loads(text)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, nested too deeply
            yield n, _bad_json(n, exc)


class JsonStream:
    """A JSON text read piece by piece: one value at a time, or the elements of an array,
    so a large document never sits in memory whole.

    ``block`` characters are read at a time; a single value over ``max_chars`` (or
    nested too deeply to parse) is an error, not read further.
    """

    def __init__(self, fh: IO[str], block: int = 1 << 20, max_chars: int = DEFAULT_LIMITS.line) -> None:
        self.fh = fh
        self.block = block
        self.max_chars = max_chars
        self.buf = ""
        self.pos = 0
        self._decoder = json.JSONDecoder()

    def _more(self, n: int) -> bool:
        more = self.fh.read(n)
        if not more:
            return False
        self.buf, self.pos = self.buf[self.pos:] + more, 0
        return True

    def seek(self, opening: re.Pattern[str]) -> None:
        """Move past the first match of ``opening``; :class:`NoArray` if there is none."""
        while (m := opening.search(self.buf, self.pos)) is None:
            self.pos = max(self.pos, len(self.buf) - 256)  # the opening may straddle two blocks
            if not self._more(self.block):
                raise NoArray(f"no {opening.pattern!r} found")
        self.pos = m.end()

    def peek(self) -> str:
        """The next character that is not white space ('' at the end of the text)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _SPACE:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more(self.block):
                return ""

    def take(self, char: str) -> bool:
        """Step over ``char`` if it comes next."""
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def value(self) -> Any:
        """The next JSON value; ``ValueError`` (saying why) when there is none to parse."""
        want = self.block
        while True:
            if not self.peek():
                raise ValueError("the data ends early (is the file cut short?)")
            try:
                value, end = self._decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise ValueError("nested too deeply") from None
            except json.JSONDecodeError as exc:
                # Most failures only mean the value continues past the buffer: read more,
                # in growing blocks so that a long value costs linear time.
                if len(self.buf) - self.pos <= self.max_chars and self._more(want):
                    want *= 2
                    continue
                if len(self.buf) - self.pos > self.max_chars:
                    raise ValueError(f"a value of over {self.max_chars:,} characters") from None
                if exc.pos >= len(self.buf):
                    raise ValueError("the data ends early (is the file cut short?)") from None
                raise ValueError(f"not valid JSON ({exc.msg})") from None
            if end == len(self.buf) and self._more(want):
                continue  # a number at the end of the buffer may go on
            self.pos = end
            if self.pos > self.block:
                self.buf, self.pos = self.buf[self.pos:], 0
            return value

    def elements(self) -> Iterator[tuple[int, Any]]:
        """(1-based index, element) of the array whose ``[`` was just read.

        An element that cannot be parsed ends the array: it is yielded as one
        :class:`Reject` whose detail says the rest of the file was not read.
        """
        index = 0
        while True:
            if self.take("]"):
                return
            index += 1
            try:
                value = self.value()
            except ValueError as exc:
                yield index, Reject(index, BAD_JSON, f"{exc}; the rest of the file was not read")
                return
            yield index, value
            if self.take(","):
                continue
            if self.take("]"):
                return
            what = "the array ends without ']' (is the file cut short?)" if not self.peek() else \
                "no ',' or ']' after an element"
            yield index + 1, Reject(index + 1, BAD_JSON, f"{what}; the rest of the file was not read")
            return


def iter_array(fh: IO[str], opening: re.Pattern[str], block: int = 1 << 20,
               max_chars: int = DEFAULT_LIMITS.line) -> Iterator[tuple[int, Any]]:
    """(1-based index, parsed element or :class:`Reject`) for each element of the JSON
    array that starts where ``opening`` (a pattern ending in ``[``) matches in ``fh``.

    See :meth:`JsonStream.elements`. Raises :class:`NoArray` if ``opening`` is never found.
    """
    stream = JsonStream(fh, block, max_chars)
    stream.seek(opening)
    yield from stream.elements()


def lookup(record: dict, name: str) -> Any:
    """The value of ``name`` in ``record``; a dotted name (``user.id``) walks into objects."""
    if name in record:
        return record[name]
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def as_text(value: Any, name: str) -> str | None:
    """A text field: a JSON string or null; anything else raises :class:`WrongType`."""
    if value is None or isinstance(value, str):
        return value
    raise WrongType(f"'{name}' is {_kind(value)}, not text")


def as_scalar(value: Any, name: str) -> str | None:
    """An id, time or group field: a string, or a number/true/false written as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # as JSON writes it
    raise WrongType(f"'{name}' is {_kind(value)}, not a single value")


def check_columns_unused(path: Path, columns: ColumnMap, fmt: str) -> None:
    """Refuse column options for a format whose fields are fixed, rather than ignore them."""
    given = [opt for opt, v in (("--text-col", columns.text), ("--user-col", columns.user),
                                ("--time-col", columns.time), ("--id-col", columns.id)) if v]
    if given:
        raise InputError(
            f"{path}: {', '.join(given)} cannot be used with the {fmt} format, whose fields are "
            "fixed. Leave it out, or read the file with --format jsonl to name the fields yourself."
        )


def _strings(values: list[str | None]) -> pa.Array:
    """``values`` as a string array; lone surrogates (JSON allows ``"\\ud800"``, Unicode
    does not) become U+FFFD, as in text decoded with errors='replace'."""
    try:
        return pa.array(values, pa.string())
    except UnicodeEncodeError:
        return pa.array([v if v is None else v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
                         for v in values], pa.string())


class ChunkBuilder:
    """Gathers posts (as strings) and rejects of a JSON-based format into chunks.

    ``optional`` names the columns of :data:`~psyprofile.io.base.OPTIONAL_FIELDS` the
    format fills (e.g. ``('lang',)``); they come after the post fields, before groups.
    """

    def __init__(self, path: Path, groups: tuple[str, ...], chunk_rows: int,
                 optional: tuple[str, ...] = ()) -> None:
        clash = [g for g in groups if g in ("row", *_FIELDS, *OPTIONAL_FIELDS)]
        if clash:
            raise InputError(
                f"{path}: group column '{printable(clash[0])}' has the name of a post field; a group "
                "column cannot be the post's row, id, user, text, time, lang or audience."
            )
        self.path = path
        self.groups = groups
        self.optional = optional
        self.chunk_rows = chunk_rows
        self._clear()

    def _clear(self) -> None:
        self.rows: list[int] = []
        self.values: dict[str, list[str | None]] = {
            c: [] for c in (*_FIELDS, *self.optional, *self.groups)}
        self.rejects: list[Reject] = []

    def add(self, row: int, record: dict, fields: dict[str, str | None]) -> None:
        """Add a post: ``fields`` holds the JSON names of id/user/text/time (or None);
        group columns are looked up in ``record`` by their (dotted) names.

        A value of the wrong type turns the whole record into a ``wrong_type`` reject.
        """
        try:
            got = {
                "text": as_text(lookup(record, fields["text"]), fields["text"]) if fields["text"] else None,
                **{f: as_scalar(lookup(record, fields[f]), fields[f]) if fields[f] else None
                   for f in ("id", "user", "time")},
                **{g: as_scalar(lookup(record, g), g) for g in self.groups},
            }
        except WrongType as exc:
            self.reject(Reject(row, WRONG_TYPE, str(exc)))
            return
        self.post(row, got)

    def post(self, row: int, values: dict[str, str | None]) -> None:
        """Add a post whose id/user/text/time, optional and group values are strings."""
        self.rows.append(row)
        for c, out in self.values.items():
            out.append(values.get(c))

    def reject(self, reject: Reject) -> None:
        self.rejects.append(reject)

    def full(self) -> bool:
        return len(self.rows) + len(self.rejects) >= self.chunk_rows

    def take(self) -> Chunk:
        """The posts and rejects gathered so far, as one chunk; starts a new one."""
        table = pa.table({c: _strings(v) for c, v in self.values.items()})
        chunk = to_chunk(self.path, table, _IDENTITY, self.groups, 0, rows=self.rows,
                         optional=self.optional)
        chunk.rejects = self.rejects + chunk.rejects
        self._clear()
        return chunk

    def rest(self) -> Iterator[Chunk]:
        """The last, partly filled chunk, if anything is left."""
        if self.rows or self.rejects:
            yield self.take()


def _is_array(fh: IO[bytes]) -> bool:
    """Whether the buffered stream ``fh`` holds one JSON array (rather than JSON lines).

    It starts with ``[`` and its first line is not a whole JSON value followed by more
    lines (JSON lines whose first record happens to be a list).
    """
    head = fh.peek(1 << 20)
    head = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if not head.lstrip(b" \t\r\n").startswith(b"["):
        return False
    first, newline, rest = head.partition(b"\n")
    if not newline or not rest.strip():
        return True
    try:
        loads(first.decode("utf-8"))
    except ValueError:
        return True
    return False


def iter_records(fh: IO[bytes], limits: Limits = DEFAULT_LIMITS, lines: bool = False) -> Iterator[tuple[int, Any]]:
    """The records of a JSON lines file, or of a file holding one JSON array of records
    (told by content, unless ``lines`` says it is JSON lines)."""
    if not lines and _is_array(fh):
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace")
        yield from iter_array(text, re.compile(r"\["), max_chars=limits.line)
    else:
        yield from iter_lines(fh, limits)


def read_records(path: Path, limits: Limits = DEFAULT_LIMITS, lines: bool | None = None) -> Iterator[tuple[int, Any]]:
    """:func:`iter_records` of ``path``; JSON lines if ``lines``, else by content, unless the
    name ends ``.jsonl``/``.ndjson``. A broken or over-large compressed stream is an
    :class:`InputError` that says how far the reading got."""
    if lines is None:
        lines = re.sub(r"\.(gz|zst|bz2)$", "", path.name.lower()).endswith((".jsonl", ".ndjson"))
    last = 0
    try:
        with open_binary(path, limits) as fh:
            for row, rec in iter_records(fh, limits, lines=lines):
                last = row
                yield row, rec
    except InputError as exc:
        raise InputError(f"{exc} (Stopped after record {last:,}.)") from None


def _sample_keys(records: list[tuple[int, Any]]) -> list[str]:
    """Column names of the sampled records: their keys, objects flattened to dotted names."""
    seen: dict[str, None] = {}

    def walk(obj: dict, prefix: str, depth: int) -> None:
        for k, v in obj.items():
            if isinstance(v, dict) and v and depth < MAX_NAME_DEPTH:
                walk(v, f"{prefix}{k}.", depth + 1)
            else:
                seen.setdefault(f"{prefix}{k}", None)

    for _, rec in records:
        if isinstance(rec, dict):
            walk(rec, "", 1)
    return list(seen)


def _resolve(path: Path, found: list[str], columns: ColumnMap) -> dict[str, str | None]:
    """Like :func:`resolve_columns`, also finding usual nested names (``user.id``)."""
    filled = dataclasses.replace(columns)
    lower = {c.lower() for c in found}
    for fld, nested in NESTED_CANDIDATES.items():
        if getattr(columns, fld) is None and not any(c in lower for c in CANDIDATES[fld]):
            setattr(filled, fld, next((c for c in nested if c in found), None))
    return resolve_columns(path, found, filled)


def read_jsonl(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """Posts from a JSON lines file, columns found like in CSV (dotted names reach nested fields)."""
    builder = ChunkBuilder(path, columns.groups, chunk_rows)
    records = read_records(path, info.limits)
    sample: list[tuple[int, Any]] = []
    for item in records:
        sample.append(item)
        if len(sample) >= SAMPLE_RECORDS:
            break
    if not sample:
        info.notes.append("the file is empty")
        return
    fields: dict[str, str | None] | None = None
    if any(isinstance(rec, dict) for _, rec in sample):
        fields = _resolve(path, _sample_keys(sample), columns)
    else:
        info.notes.append("no line of the file is a JSON object")

    for src in (sample, records):
        for row, rec in src:
            if builder.full():
                yield builder.take()
            if isinstance(rec, Reject):
                builder.reject(rec)
            elif not isinstance(rec, dict) or fields is None:
                builder.reject(Reject(row, WRONG_TYPE, f"the record is {_kind(rec)}, not an object"))
            else:
                builder.add(row, rec, fields)
    yield from builder.rest()
