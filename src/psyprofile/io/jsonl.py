"""JSON lines (.jsonl, .ndjson, .json; plain, .gz or .zst): one post per line, columns by name.

Also the streaming pieces the other JSON-based formats share: opening compressed files,
reading records line by line or element by element from a large JSON array, checking
value types, and gathering posts into :class:`~psyprofile.io.base.Chunk` s. Nothing here
holds more than one chunk of posts (or one JSON array element) in memory.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from psyprofile.errors import InputError
from psyprofile.io.base import BAD_JSON, WRONG_TYPE, Chunk, ColumnMap, FileInfo, Reject
from psyprofile.io.tabular import CANDIDATES, resolve_columns, to_chunk

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Pushshift's Reddit dumps are compressed with a 2 GiB window; the default limit refuses them.
ZSTD_MAX_WINDOW = 2**31
# Keys of the first records that tell which columns a JSON lines file has.
SAMPLE_RECORDS = 1000
# Dotted names of nested fields worth finding without an option (tweets as JSON lines).
NESTED_CANDIDATES: dict[str, tuple[str, ...]] = {
    "user": ("user.id_str", "user.id", "user.screen_name", "author.id", "author.username"),
    "id": ("id_str",),
}
# A JSON array element larger than this is taken as a broken file, not read further.
MAX_ELEMENT_CHARS = 64 << 20
_FIELDS = ("id", "user", "text", "time")
_IDENTITY = {f: f for f in _FIELDS}


class WrongType(ValueError):
    """A JSON value of a type that cannot stand for the field it was found in."""


class NoArray(ValueError):
    """The text has no JSON array where one was expected."""


def open_binary(path: Path) -> IO[bytes]:
    """``path`` opened for streaming reads, decompressed on the fly if gzip or zstd.

    The compression is told by the file's first bytes, not its name.
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == GZIP_MAGIC:
        return gzip.open(path, "rb")
    if magic == ZSTD_MAGIC:
        return io.BufferedReader(_ZstdStream(open(path, "rb")), 1 << 20)  # noqa: SIM115
    return open(path, "rb")  # noqa: SIM115 (the caller closes it)


class _ZstdStream(io.RawIOBase):
    """Streaming zstd decompression (frame after frame) that notices a cut-short file.

    python-zstandard's own ``stream_reader`` ends quietly when the data stops inside a
    frame, which would lose the rest of a truncated dump without a word.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        self._obj = self._dctx.decompressobj()
        self._out = memoryview(b"")
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        import zstandard

        while not self._out:
            # Small reads bound the output of one call: 64 KiB times the compression ratio.
            data = self._raw.read(1 << 16)
            if not data:
                if self._in_frame:
                    raise zstandard.ZstdError("the data ends inside a zstd frame (the file is cut short)")
                return 0
            self._out = memoryview(self._feed(data))
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            self._in_frame = True
            out.append(self._obj.decompress(data))
            data = b""
            if self._obj.eof:
                self._in_frame = False
                data = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


def peek_text(path: Path, n: int = 1 << 16) -> str:
    """The first ``n`` bytes of ``path`` (decompressed), decoded leniently, BOM removed.

    A broken compressed stream gives what could be read: reading it will say more.
    """
    import zstandard

    head = b""
    with open_binary(path) as fh:
        try:
            while len(head) < n and (piece := fh.read1(min(n - len(head), 1 << 14))):
                head += piece
        except (EOFError, OSError, zstandard.ZstdError):
            pass
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _bad_json(row: int, exc: Exception) -> Reject:
    if isinstance(exc, json.JSONDecodeError):
        return Reject(row, BAD_JSON, f"not valid JSON: {exc.msg} (column {exc.colno})")
    return Reject(row, BAD_JSON, f"not valid UTF-8 JSON ({exc})")


def iter_lines(fh: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value or :class:`Reject`) for each non-blank line of ``fh``."""
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            # Decoding first spares json.loads its encoding guess on every line.
            text = line.decode("utf-8-sig" if n == 1 else "utf-8")
            yield n, json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield n, _bad_json(n, exc)


def iter_array(fh: IO[str], opening: re.Pattern[str], block: int = 1 << 20) -> Iterator[tuple[int, Any]]:
    """(1-based index, parsed element) for each element of the JSON array that starts
    where ``opening`` (a pattern ending in ``[``) matches in the text of ``fh``.

    Reads ``block`` characters at a time, so a large array never sits in memory whole.
    An element that cannot be parsed ends the array: it is yielded as a :class:`Reject`
    whose detail says the rest of the file was not read. Raises :class:`NoArray` if
    ``opening`` is never found.
    """
    buf = ""
    while (m := opening.search(buf)) is None:
        more = fh.read(block)
        if not more:
            raise NoArray(f"no {opening.pattern!r} found")
        buf = buf[-256:] + more  # the opening may straddle two blocks
    buf, pos, index = buf[m.end():], 0, 0
    decoder = json.JSONDecoder()
    want = block
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            if pos >= len(buf):
                raise json.JSONDecodeError("Expecting value", buf, pos)
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            # Most failures only mean the element continues past the buffer: read more,
            # in growing blocks so that a long element costs linear time.
            more = fh.read(want) if len(buf) - pos < MAX_ELEMENT_CHARS else ""
            if more:
                buf, pos, want = buf[pos:] + more, 0, want * 2
                continue
            if pos >= len(buf):
                detail = "the array ends without ']' (is the file cut short?)"
            else:
                detail = f"not valid JSON ({exc.msg}); the rest of the file was not read"
            yield index + 1, Reject(index + 1, BAD_JSON, detail)
            return
        index += 1
        want = block
        yield index, value
        pos = end
        if pos > block:
            buf, pos = buf[pos:], 0


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


class ChunkBuilder:
    """Gathers posts (as strings) and rejects of a JSON-based format into chunks."""

    def __init__(self, path: Path, groups: tuple[str, ...], chunk_rows: int) -> None:
        clash = [g for g in groups if g in ("row", *_FIELDS)]
        if clash:
            raise InputError(
                f"{path}: group column '{clash[0]}' has the name of a post field; a group column "
                "cannot be the post's row, id, user, text or time."
            )
        self.path = path
        self.groups = groups
        self.chunk_rows = chunk_rows
        self._clear()

    def _clear(self) -> None:
        self.rows: list[int] = []
        self.values: dict[str, list[str | None]] = {c: [] for c in (*_FIELDS, *self.groups)}
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
        """Add a post whose id/user/text/time and group values are already strings."""
        self.rows.append(row)
        for c, out in self.values.items():
            out.append(values.get(c))

    def reject(self, reject: Reject) -> None:
        self.rejects.append(reject)

    def full(self) -> bool:
        return len(self.rows) + len(self.rejects) >= self.chunk_rows

    def take(self) -> Chunk:
        """The posts and rejects gathered so far, as one chunk; starts a new one."""
        table = pa.table({c: pa.array(v, pa.string()) for c, v in self.values.items()})
        chunk = to_chunk(self.path, table, _IDENTITY, self.groups, 0, rows=self.rows)
        chunk.rejects = self.rejects + chunk.rejects
        self._clear()
        return chunk

    def rest(self) -> Iterator[Chunk]:
        """The last, partly filled chunk, if anything is left."""
        if self.rows or self.rejects:
            yield self.take()


def iter_records(fh: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """The records of a JSON lines file, or of a file holding one JSON array of records."""
    first = fh.peek(64)[:64]
    if first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace")
        yield from iter_array(text, re.compile(r"\["))
    else:
        yield from iter_lines(fh)


def read_records(path: Path) -> Iterator[tuple[int, Any]]:
    """:func:`iter_records` of ``path``, with a broken compressed stream as an :class:`InputError`."""
    import zstandard

    last = 0
    try:
        with open_binary(path) as fh:
            for row, rec in iter_records(fh):
                last = row
                yield row, rec
    except (EOFError, OSError, zstandard.ZstdError) as exc:
        raise InputError(
            f"{path}: the compressed data is broken after record {last:,} ({exc}). "
            "Download or decompress the file again."
        ) from None


def _sample_keys(records: list[tuple[int, Any]]) -> list[str]:
    """Column names of the sampled records: their keys, objects flattened to dotted names."""
    seen: dict[str, None] = {}

    def walk(obj: dict, prefix: str) -> None:
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                walk(v, f"{prefix}{k}.")
            else:
                seen.setdefault(f"{prefix}{k}", None)

    for _, rec in records:
        if isinstance(rec, dict):
            walk(rec, "")
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
    records = read_records(path)
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
