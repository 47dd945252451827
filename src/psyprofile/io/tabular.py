"""CSV, TSV and Parquet: tables whose columns the user names (or that have usual names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from psyprofile.errors import InputError, describe, printable
from psyprofile.io.base import (
    BAD_TIME,
    DELETED_TEXT,
    DELETED_USER,
    GONE,
    POST_FIELDS,
    Chunk,
    ColumnMap,
    FileInfo,
    Reject,
)
from psyprofile.io.bounds import describe_names, is_compressed, open_binary
from psyprofile.io.csvscan import scan_csv
from psyprofile.io.timeparse import parse_times

# Usual column names, most specific first; matched case-insensitively.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": ("text", "message", "full_text", "body", "content", "post", "status", "tweet", "selftext"),
    "user": ("user_id", "userid", "user", "author_id", "author", "username", "screen_name", "account"),
    "time": ("created_at", "created_time", "created_utc", "timestamp", "time", "datetime", "date"),
    "id": ("message_id", "post_id", "tweet_id", "status_id", "id"),
}
OPTION = {"text": "--text-col", "user": "--user-col", "time": "--time-col", "id": "--id-col"}


def resolve_columns(path: Path, found: list[str], columns: ColumnMap) -> dict[str, str | None]:
    """Map post fields to source column names; raises a clear error if text or user is missing."""
    lower = {c.lower(): c for c in found}
    out: dict[str, str | None] = {}
    for fld, cands in CANDIDATES.items():
        given = getattr(columns, fld)
        if given is not None:
            if given not in found:
                raise InputError(
                    f"{path}: column '{printable(given)}' (given with {OPTION[fld]}) is not in the file. "
                    f"Columns found: {describe_names(found)}."
                )
            out[fld] = given
        else:
            out[fld] = next((lower[c] for c in cands if c in lower), None)
    missing = [f for f in ("text", "user") if out[f] is None]
    if missing:
        opts = " and ".join(f"{OPTION[f]} NAME" for f in missing)
        raise InputError(
            f"{path}: no {' or '.join(missing)} column found. Columns found: {describe_names(found)}. "
            f"Name the right columns with {opts}."
        )
    for g in columns.groups:
        if g not in found:
            raise InputError(f"{path}: group column '{printable(g)}' (--group-col) is not in the file. "
                             f"Columns found: {describe_names(found)}.")
    if columns.groups and out["text"] in columns.groups:
        raise InputError(f"{path}: the text column '{printable(out['text'])}' cannot also be a group "
                         "column (--group-col); group by a column that describes the post.")
    return out


def _as_strings(path: Path, name: str, a: pa.Array) -> pa.Array:
    """Column ``name`` as strings; a column that holds no single values is an InputError."""
    if a.type == pa.string():
        return a
    t = a.type
    if pa.types.is_nested(t) or pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type):
        raise InputError(f"{path}: column '{printable(name)}' holds {t} values (lists or records), not "
                         "single values; name another column, or flatten it first.")
    try:
        return pc.cast(a, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        kind = "bytes that are not UTF-8 text" if pa.types.is_binary(t) or pa.types.is_large_binary(t) else str(t)
        raise InputError(f"{path}: column '{printable(name)}' holds {kind}; store it as UTF-8 text.") from None


def _gone(a: pa.Array) -> np.ndarray:
    """Rows whose value the platform replaced by [deleted]/[removed]."""
    hit = pc.is_in(pc.utf8_trim_whitespace(a), value_set=pa.array(sorted(GONE)))
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def to_chunk(path: Path, batch: pa.RecordBatch | pa.Table, cols: dict[str, str | None],
             groups: tuple[str, ...], first_row: int, rows: list[int] | np.ndarray | None = None,
             optional: tuple[str, ...] = ()) -> Chunk:
    """Turn a batch of source columns into a :class:`Chunk` (shared by all readers).

    Rows are numbered from ``first_row`` on, or taken from ``rows`` (one per batch row)
    when the source skips numbers (JSON lines: blank and broken lines). ``optional``
    columns (:data:`~psyprofile.io.base.OPTIONAL_FIELDS`) are taken by name and come
    before the groups. Rows whose user or text is ``[deleted]``/``[removed]``, and times
    that do not parse, become rejects.
    """
    n = batch.num_rows
    row_numbers = np.arange(first_row, first_row + n) if rows is None else np.asarray(rows, dtype=np.int64)
    row = pa.array(row_numbers, pa.int64())

    def col(name: str | None) -> pa.Array:
        if name is None:
            return pa.nulls(n, pa.string())
        a = batch.column(batch.schema.get_field_index(name))
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        return _as_strings(path, name, a)

    rejects: list[Reject] = []
    drop = np.zeros(n, dtype=bool)
    if cols["time"] is None:
        time = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    else:
        raw = batch.column(batch.schema.get_field_index(cols["time"]))
        if pa.types.is_timestamp(raw.type):
            time = pc.cast(raw, pa.timestamp("us", tz="UTC")) if raw.type.tz else pc.assume_timezone(pc.cast(raw, pa.timestamp("us")), "UTC")
        else:
            values = col(cols["time"]).to_pylist()
            time, bad = parse_times(values)
            for i in bad.nonzero()[0]:
                rejects.append(Reject(int(row_numbers[i]), BAD_TIME, f"{describe(values[i])} that is not a date/time"))
            drop |= bad
    user, text = col(cols["user"]), col(cols["text"])
    for reason, gone in ((DELETED_USER, _gone(user)), (DELETED_TEXT, _gone(text))):
        gone &= ~drop
        rejects += [Reject(int(row_numbers[i]), reason) for i in gone.nonzero()[0]]
        drop |= gone
    arrays = [row, col(cols["id"]), user, text, time]
    names = list(POST_FIELDS)
    for c in (*optional, *groups):
        arrays.append(col(c))
        names.append(c)
    table = pa.Table.from_arrays(arrays, names=names)
    if drop.any():
        table = table.filter(pa.array(~drop))
    return Chunk(table, rejects)


def _csv_chunks(path: Path, columns: ColumnMap, info: FileInfo, delimiter: str) -> Iterator[Chunk]:
    kind = "TSV" if delimiter == "\t" else "CSV"
    scan = scan_csv(path, delimiter, info.limits)
    if scan.note:
        info.notes.append(scan.note)
    if scan.columns == 0:
        info.notes.append("the file is empty")
        return
    encoding = scan.encoding
    # Every block must hold the longest record, or pyarrow stops ("straddles two blocks");
    # 3x: the scan counts field characters, and quoting can double them.
    block = max(1 << 22, 3 * scan.max_record_bytes + (1 << 16))
    invalid = 0

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # Counted and reported from the scan, which knows the record's real line.
        nonlocal invalid
        invalid += 1
        return "skip"

    def open_reader(types: dict[str, pa.DataType]) -> pacsv.CSVStreamingReader:
        # A plain file cannot inflate: pyarrow reads it natively (faster than through Python).
        source = open_binary(path, info.limits) if is_compressed(path) else pa.OSFile(str(path))
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(encoding=encoding, block_size=block),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False, auto_dict_encode=False),
        )

    try:
        reader = open_reader({})
        names = reader.schema.names
        reader.close()
        # Read every column as text: ids such as 00123 must not become numbers.
        invalid = 0
        reader = open_reader({n: pa.string() for n in names})
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if "Empty CSV file" in str(exc):
            info.notes.append("the file is empty")
            return
        raise InputError(f"{path}: cannot read as {kind}; check that it is one and its delimiter.") from None
    cols = resolve_columns(path, names, columns)
    ragged = scan.ragged
    # Data record numbers of the good rows: the k-th good row comes after every ragged
    # record i whose number minus i is at most k (both 1-based counts).
    after = np.array([r.row for r in ragged], dtype=np.int64) - np.arange(len(ragged))
    good = 0
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, UnicodeDecodeError):
                # pyarrow's message quotes the row; do not print file content.
                raise InputError(f"{path}: cannot parse {kind} after data row {good:,}. "
                                 "Check the quoting and delimiter near that row.") from None
            k = np.arange(good + 1, good + 1 + batch.num_rows)
            numbers = k + np.searchsorted(after, k, side="right")
            good += batch.num_rows
            chunk = to_chunk(path, batch, cols, columns.groups, 0, rows=numbers)
            last = int(numbers[-1]) if len(numbers) else 0
            while ragged and ragged[0].row < last:
                chunk.rejects.append(ragged.pop(0))
            yield chunk
    if good + invalid != scan.records:
        raise InputError(f"{path}: the {kind} parser read {good + invalid:,} records where the "
                         f"file holds {scan.records:,}; check the quoting. Nothing of it was kept.")
    if ragged:
        empty = pa.table({n: pa.array([], pa.string()) for n in names})
        chunk = to_chunk(path, empty, cols, columns.groups, 0, rows=[])
        chunk.rejects = ragged
        yield chunk


def read_csv(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    yield from _csv_chunks(path, columns, info, ",")


def read_tsv(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    yield from _csv_chunks(path, columns, info, "\t")


def read_parquet(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}).") from None
    cols = resolve_columns(path, names, columns)
    wanted = sorted({c for c in cols.values() if c} | set(columns.groups))
    next_row = 1
    batches = pf.iter_batches(batch_size=chunk_rows, columns=wanted)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: the Parquet data is broken after row {next_row - 1:,} "
                             f"({type(exc).__name__}); write the file again.") from None
        yield to_chunk(path, batch, cols, columns.groups, next_row)
        next_row += batch.num_rows
