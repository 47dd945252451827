"""One checking pass over a CSV/TSV file before it is parsed for real.

pyarrow's CSV parser is fast but lenient: a quote that opens a field and never closes
makes every following line part of that field (rows and raw user ids vanish into one
post), it cannot say on which line a ragged row is once values hold line breaks, and a
record longer than its block size is a crash. This pass reads the file once, line by
line (each line capped at ``Limits.line`` bytes), through Python's ``csv`` parser in
strict mode, and so learns, with bounded memory:

- the encoding (UTF-8, else cp1252, else latin-1), as before;
- the number of records, so the parse can be reconciled with it;
- each ragged record's number and physical line;
- the longest record, so the parser's block size always holds it;

and refuses a file whose quoting is broken, naming the line where the bad field opens.
Structure is checked on the bytes decoded as latin-1: quotes, delimiters and line
breaks are ASCII, so this is exact for UTF-8 and cp1252 alike.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from psyprofile.errors import InputError
from psyprofile.io.base import Limits, Reject
from psyprofile.io.bounds import open_binary

BAD_ROW = "bad_row"
_NOT_CP1252 = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # bytes cp1252 leaves undefined


@dataclass
class CsvScan:
    """What the checking pass learned about a CSV/TSV file."""

    encoding: str = "utf-8-sig"
    note: str | None = None  # the encoding fallback, said to the user
    records: int = 0  # data records (the header and empty lines not counted)
    columns: int = 0  # fields of the header
    max_record_bytes: int = 0  # characters of the longest record's fields (about its bytes)
    ragged: list[Reject] = field(default_factory=list)  # row = data record number (1-based)


def _explain(err: csv.Error, start: int, line: int, sep: str) -> str:
    msg = str(err)
    if "unexpected end of data" in msg or "EOF" in msg:
        return (f"the quoted field that opens on line {start} is never closed, so every line "
                f"after it would become part of that field")
    if "expected after" in msg:
        return (f"a quoted field that opens on line {start} is closed on line {line} with more "
                f"text after the closing quote: a quote is missing or stray (a field that starts "
                f"with a quote must end with one, right before the next {sep} or line end)")
    if "NUL" in msg:
        return f"line {line} holds a NUL byte: is this a text file?"
    if "new-line" in msg:
        return f"line {line} has a bare carriage return (\\r) inside a field: convert the line endings"
    if "field limit" in msg:
        return f"a field that opens on line {start} is over the length cap"
    return f"line {line} cannot be parsed ({msg.split(' - ')[0]})"


def scan_csv(path: Path, delimiter: str, limits: Limits, block: int = 1 << 20) -> CsvScan:
    """Check ``path`` once (see the module doc); raise :class:`InputError` on broken quoting
    or a line or record over ``limits.line`` bytes.

    Reads ``block`` bytes at a time; encodings are checked per block, records by the
    ``csv`` module, so the pass runs at C speed for the most part.
    """
    sep = "tab" if delimiter == "\t" else repr(delimiter)
    out = CsvScan()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    state = {"utf8": True, "cp1252": True, "offset": 0, "lines": 0}

    def too_long(line: int) -> InputError:
        return InputError(
            f"{path}: line {line} is over {_mib(limits.line)}. A CSV line cannot be skipped "
            "safely (it may open a quote); split the file or raise the cap "
            "(psyprofile.io.bounds.Limits.line).")

    def check(data: bytes) -> None:
        if state["utf8"]:
            try:
                utf8.decode(data)
            except UnicodeDecodeError as exc:
                state["utf8"] = False
                line = state["lines"] + data[: exc.start].count(b"\n") + 1
                out.note = f"first bad byte at offset {state['offset'] + exc.start:,}, line {line}"
        if state["cp1252"] and any(b in data for b in _NOT_CP1252):
            state["cp1252"] = False
        state["offset"] += len(data)

    def lines() -> Iterator[str]:
        pending = b""
        with open_binary(path, limits) as fh:
            while data := fh.read(block):
                check(data)
                data = pending + data
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                if len(pending) > limits.line:
                    raise too_long(state["lines"] + data[:cut].count(b"\n") + 1)
                if cut:
                    state["lines"] += data.count(b"\n", 0, cut)
                    # latin-1 maps every byte to one character; only "\n" ends a line here.
                    yield from io.StringIO(data[:cut].decode("latin-1"), newline="\n")
            if pending:
                yield pending.decode("latin-1")

    source = lines()
    reader = csv.reader(source, delimiter=delimiter, strict=True)
    old_limit = csv.field_size_limit(max(csv.field_size_limit(), limits.line))
    header = True
    start = 1
    try:
        for record in reader:
            if record:
                size = sum(map(len, record)) + len(record)
                if size > limits.line:
                    raise InputError(f"{path}: the record that starts on line {start} is over "
                                     f"{_mib(limits.line)}; split it or raise the cap "
                                     "(psyprofile.io.bounds.Limits.line).")
                out.max_record_bytes = max(out.max_record_bytes, size)
                if header:
                    out.columns, header = len(record), False
                else:
                    out.records += 1
                    if len(record) != out.columns:
                        out.ragged.append(Reject(
                            out.records, BAD_ROW,
                            f"line {start}: {len(record)} fields where the header has {out.columns}"))
            start = reader.line_num + 1
    except csv.Error as err:
        raise InputError(f"{path}: {_explain(err, start, reader.line_num, sep)}. Fix the file there "
                         "and read it again.") from None
    finally:
        csv.field_size_limit(old_limit)
        source.close()
    if state["utf8"]:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            state["utf8"] = False
            out.note = f"the file ends inside a character, at offset {state['offset']:,}"
    if not state["utf8"]:
        out.encoding = "cp1252" if state["cp1252"] else "latin-1"
        out.note = (f"not valid UTF-8 ({out.note}); read as {out.encoding}. Check a few posts for "
                    "wrong characters, or convert the file to UTF-8.")
    return out


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"
