"""CSV, TSV and Parquet: tables whose columns the user names (or that have usual names)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from psyprofile.errors import InputError
from psyprofile.io.base import BAD_TIME, POST_FIELDS, Chunk, ColumnMap, FileInfo, Reject
from psyprofile.io.timeparse import parse_times

# Usual column names, most specific first; matched case-insensitively.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": ("text", "message", "full_text", "body", "content", "post", "status", "tweet", "selftext"),
    "user": ("user_id", "userid", "user", "author_id", "author", "username", "screen_name", "account"),
    "time": ("created_at", "created_time", "created_utc", "timestamp", "time", "datetime", "date"),
    "id": ("message_id", "post_id", "tweet_id", "status_id", "id"),
}
OPTION = {"text": "--text-col", "user": "--user-col", "time": "--time-col", "id": "--id-col"}
BAD_ROW = "bad_row"


def resolve_columns(path: Path, found: list[str], columns: ColumnMap) -> dict[str, str | None]:
    """Map post fields to source column names; raises a clear error if text or user is missing."""
    lower = {c.lower(): c for c in found}
    out: dict[str, str | None] = {}
    for fld, cands in CANDIDATES.items():
        given = getattr(columns, fld)
        if given is not None:
            if given not in found:
                raise InputError(
                    f"{path}: column '{given}' (given with {OPTION[fld]}) is not in the file. "
                    f"Columns found: {', '.join(found)}."
                )
            out[fld] = given
        else:
            out[fld] = next((lower[c] for c in cands if c in lower), None)
    missing = [f for f in ("text", "user") if out[f] is None]
    if missing:
        opts = " and ".join(f"{OPTION[f]} NAME" for f in missing)
        raise InputError(
            f"{path}: no {' or '.join(missing)} column found. Columns found: {', '.join(found) or '(none)'}. "
            f"Name the right columns with {opts}."
        )
    for g in columns.groups:
        if g not in found:
            raise InputError(f"{path}: group column '{g}' (--group-col) is not in the file. Columns found: {', '.join(found)}.")
    return out


def to_chunk(path: Path, batch: pa.RecordBatch | pa.Table, cols: dict[str, str | None],
             groups: tuple[str, ...], first_row: int, rows: list[int] | None = None) -> Chunk:
    """Turn a batch of source columns into a :class:`Chunk` (shared by all readers).

    Rows are numbered from ``first_row`` on, or taken from ``rows`` (one per batch row)
    when the source skips numbers (JSON lines: blank and broken lines).
    """
    n = batch.num_rows
    row_numbers = list(range(first_row, first_row + n)) if rows is None else rows
    row = pa.array(row_numbers, pa.int64())

    def col(name: str | None) -> pa.Array:
        if name is None:
            return pa.nulls(n, pa.string())
        a = batch.column(batch.schema.get_field_index(name))
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        return a if a.type == pa.string() else pc.cast(a, pa.string())

    rejects: list[Reject] = []
    if cols["time"] is None:
        time = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    else:
        raw = batch.column(batch.schema.get_field_index(cols["time"]))
        if pa.types.is_timestamp(raw.type):
            time = pc.cast(raw, pa.timestamp("us", tz="UTC")) if raw.type.tz else pc.assume_timezone(pc.cast(raw, pa.timestamp("us")), "UTC")
            bad = None
        else:
            values = raw.to_pylist()
            time, bad = parse_times(values)
        if bad is not None and bad.any():
            for i in bad.nonzero()[0]:
                rejects.append(Reject(row_numbers[i], BAD_TIME, f"{values[i]!r} is not a date/time"))
    arrays = [row, col(cols["id"]), col(cols["user"]), col(cols["text"]), time]
    names = list(POST_FIELDS)
    for g in groups:
        arrays.append(col(g))
        names.append(g)
    table = pa.Table.from_arrays(arrays, names=names)
    if rejects:
        table = table.filter(pa.array(~bad))
    return Chunk(table, rejects)


def _open_decompressed(path: Path) -> pa.NativeFile:
    # pyarrow's CSV reader decompresses by file suffix (.gz, .bz2, .zst); sniff the same bytes.
    return pa.input_stream(str(path), compression="detect")


def sniff_encoding(path: Path, info: FileInfo, block: int = 1 << 24) -> str:
    """'utf-8-sig' when the whole file is UTF-8; else 'cp1252' or 'latin-1', with a note.

    Reads the file once in blocks, so memory stays bounded whatever its size.
    """
    dec = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with _open_decompressed(path) as fh:
        while True:
            data = fh.read(block)
            try:
                dec.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                bad_at = offset + exc.start
                break
            if not data:
                return "utf-8-sig"
            offset += len(data)
    with _open_decompressed(path) as fh:
        head = fh.read(bad_at)
        line = head.count(b"\n") + 1
    enc = "cp1252"
    with _open_decompressed(path) as fh:
        while data := fh.read(block):
            try:
                data.decode("cp1252")
            except UnicodeDecodeError:
                enc = "latin-1"
                break
    info.notes.append(
        f"not valid UTF-8 (first bad byte at offset {bad_at:,}, line {line}); read as {enc}. "
        "Check a few posts for wrong characters, or convert the file to UTF-8."
    )
    return enc


def _csv_chunks(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int, delimiter: str) -> Iterator[Chunk]:
    encoding = sniff_encoding(path, info)
    bad_rows: list[Reject] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # pyarrow knows the line only when values hold no newlines; 0 means 'unknown'.
        line = row.number if row.number and row.number > 0 else 0
        bad_rows.append(Reject(line, BAD_ROW, f"{row.actual_columns} fields where the header has {row.expected_columns}"))
        return "skip"

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=True, quoted_strings_can_be_null=False, auto_dict_encode=False),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            info.notes.append("the file is empty")
            return
        raise InputError(f"{path}: cannot read as {'TSV' if delimiter == chr(9) else 'CSV'} ({exc}).") from None
    names = reader.schema.names
    # Read every column as text: ids such as 00123 must not become numbers.
    reader.close()
    bad_rows.clear()  # the first pass already met the bad rows of its first block
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 22),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True, quoted_strings_can_be_null=False),
    )
    cols = resolve_columns(path, names, columns)
    next_row = 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: cannot parse after data row {next_row - 1} ({exc}). Check quoting near that row.") from None
        chunk = to_chunk(path, batch, cols, columns.groups, next_row)
        next_row += batch.num_rows
        if bad_rows:
            chunk.rejects += bad_rows
            bad_rows.clear()
        yield chunk


def read_csv(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    yield from _csv_chunks(path, columns, info, chunk_rows, ",")


def read_tsv(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    yield from _csv_chunks(path, columns, info, chunk_rows, "\t")


def read_parquet(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc}).") from None
    cols = resolve_columns(path, pf.schema_arrow.names, columns)
    wanted = sorted({c for c in cols.values() if c} | set(columns.groups))
    next_row = 1
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=wanted):
        yield to_chunk(path, batch, cols, columns.groups, next_row)
        next_row += batch.num_rows
