"""Bounded, guarded reading of untrusted input: the helpers every reader opens files with.

Public names (for every reader, including new ones):

- :class:`Limits`, :data:`DEFAULT_LIMITS`: the caps (inflated bytes per archive member or
  compressed file, bytes per line / JSON element). A reader takes them from
  ``info.limits`` (:class:`~psyprofile.io.base.FileInfo`).
- :func:`open_binary` (path) -> a decompressed (gzip, zstd, bzip2 by magic bytes), capped
  byte stream whose decompression and read errors become one clear :class:`InputError`.
- :func:`is_compressed` (path) -> whether :func:`open_binary` would decompress it.
- :func:`guard` (stream, name, limit) -> the same guard around any byte stream (zip
  members, sockets).
- :func:`open_member` (archive path, member name) -> a guarded stream of one member of a
  folder, .zip or .tar(.gz); refuses symlinks and hard links in tars, links leading out
  of a folder, members whose declared size is over the cap.
- :func:`archive_names` (archive path) -> member names of a folder, .zip or .tar(.gz);
  :func:`is_archive` (path) -> whether it is one of these.
- :func:`iter_lines` (stream, limit) -> (line number, bytes or :class:`Reject`): a line
  over the cap becomes one ``line_too_long`` reject and is skipped, never held whole.
- :func:`loads` (text) -> json.loads whose RecursionError is a ValueError.
- :func:`describe_names` (column names) -> names safe to show in an error message.
  Error messages never print file content (lines, raw ids, control bytes): use this and
  :func:`psyprofile.errors.printable` / :func:`psyprofile.errors.describe`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from psyprofile.errors import InputError, printable
from psyprofile.io.base import DEFAULT_LIMITS, LINE_TOO_LONG, Limits, Reject

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
# Pushshift's Reddit dumps are compressed with a 2 GiB window; the default limit refuses them.
ZSTD_MAX_WINDOW = 2**31
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


# Errors that decompressors and archive readers raise on broken data.
_BROKEN = (EOFError, OSError, zlib.error, zipfile.BadZipFile, tarfile.TarError, ValueError)
_NAME = re.compile(r"[A-Za-z_][\w.:\-]{0,39}")  # one word: a phrase is more likely post text


def _zstd_error() -> type[Exception]:
    import zstandard

    return zstandard.ZstdError


def describe_names(names: list[str], limit: int = 30) -> str:
    """Column names for an error message: only those that look like names are shown.

    A file without a header row has data in its first line (raw ids, post text); such
    "names" are counted, not printed.
    """
    shown = [n for n in names if _NAME.fullmatch(n) and not n.isdigit()][:limit]
    hidden = len(names) - len(shown)
    parts = ", ".join(shown) or "(none)"
    if hidden:
        parts += f" and {hidden} more that do not look like column names (is the header row missing?)"
    return parts


def _size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


class _Guarded(io.RawIOBase):
    """A byte stream that stops with an :class:`InputError` past ``limit`` bytes or when
    the underlying stream (a decompressor, an archive member) fails."""

    def __init__(self, raw: IO[bytes], name: str, limit: int) -> None:
        self._raw = raw
        self._name = name
        self._limit = limit
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        want = min(len(b), self._limit + 1 - self.read_bytes)
        try:
            data = self._raw.read(max(min(want, 1 << 16), 1))  # small reads: an error loses little
        except (*_BROKEN, _zstd_error()) as exc:
            raise InputError(
                f"{self._name}: the compressed data is broken after {self.read_bytes:,} bytes "
                f"({type(exc).__name__}). Download or decompress the file again."
            ) from None
        n = len(data)
        self.read_bytes += n
        if self.read_bytes > self._limit:
            raise InputError(
                f"{self._name}: inflates to more than {_size(self._limit)} "
                f"(the cap on one file or archive member). If the data is real, split it "
                "or raise the limit (psyprofile.io.bounds.Limits)."
            )
        b[:n] = data
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def guard(raw: IO[bytes], name: str, limit: int = DEFAULT_LIMITS.inflated) -> io.BufferedReader:
    """``raw`` behind the size cap and error guard, buffered (``peek`` and ``read1`` work)."""
    return io.BufferedReader(_Guarded(raw, name, limit), 1 << 20)


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
        self._pending = b""
        self._out = memoryview(b"")
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        import zstandard

        while not self._out:
            # Small reads bound the output of one call: 64 KiB times the compression ratio.
            data = self._pending or self._raw.read(1 << 16)
            self._pending = b""
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
        self._in_frame = True
        out = self._obj.decompress(data)
        if self._obj.eof:
            # A frame ended: what follows must be another frame (garbage is an error).
            self._in_frame = False
            self._pending = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
        return out

    def close(self) -> None:
        self._raw.close()
        super().close()


def _compression(path: Path) -> str | None:
    """'gzip', 'zstd' or 'bzip2' by the file's first bytes, or None for a plain file."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == GZIP_MAGIC:
        return "gzip"
    if magic == ZSTD_MAGIC:
        return "zstd"
    return "bzip2" if magic[:3] == BZIP2_MAGIC else None


def is_compressed(path: Path) -> bool:
    """Whether the file starts like gzip, zstd or bzip2 data."""
    return _compression(path) is not None


def open_binary(path: Path, limits: Limits = DEFAULT_LIMITS) -> io.BufferedReader:
    """``path`` opened for streaming reads, decompressed on the fly if gzip, zstd or
    bzip2 (told by the first bytes, not the name), capped at ``limits.inflated`` bytes.

    Broken compressed data and the cap raise :class:`InputError` while reading.
    """
    try:
        kind = _compression(path)
        raw: IO[bytes]
        if kind == "gzip":
            raw = gzip.open(path, "rb")  # noqa: SIM115 (closed with the guard)
        elif kind == "zstd":
            raw = _ZstdStream(open(path, "rb"))  # noqa: SIM115 (closed with the guard)
        elif kind == "bzip2":
            raw = bz2.open(path, "rb")  # noqa: SIM115
        else:
            raw = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or type(exc).__name__}).") from None
    return guard(raw, str(path), limits.inflated)


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a folder, a .zip, or a .tar(.gz) by name."""
    return path.is_dir() or zipfile.is_zipfile(path) or path.name.lower().endswith(TAR_SUFFIXES)


def archive_names(path: Path) -> list[str]:
    """'/'-separated names of the regular files in a folder, .zip or .tar(.gz) export.

    Raises :class:`InputError` if ``path`` is none of these or cannot be read.
    """
    try:
        if path.is_dir():
            return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                          if p.is_file() or p.is_symlink())
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return [i.filename for i in zf.infolist() if not i.is_dir()]
        if path.name.lower().endswith(TAR_SUFFIXES):
            with tarfile.open(path) as tf:
                return [m.name for m in tf.getmembers() if not m.isdir()]
    except (*_BROKEN, _zstd_error()) as exc:
        raise InputError(f"{path}: not a readable archive ({type(exc).__name__}).") from None
    raise InputError(f"{path}: not a folder, .zip or .tar(.gz) archive.")


class _Closing(io.RawIOBase):
    """A member stream that also closes the archive it came from."""

    def __init__(self, raw: IO[bytes], archive: Any) -> None:
        self._raw, self._archive = raw, archive

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._raw.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
            self._archive.close()
        finally:
            super().close()


def open_member(path: Path, name: str, limits: Limits = DEFAULT_LIMITS) -> io.BufferedReader:
    """One member (a name from :func:`archive_names`) of a folder, .zip or .tar(.gz),
    as a guarded byte stream capped at ``limits.inflated``.

    Links are refused, never followed: a tar symlink or hard link, or a folder entry
    whose real path lies outside the folder.
    """
    where = f"{path}: {printable(name, 80)}"
    try:
        if path.is_dir():
            target = path / name
            real, root = target.resolve(), path.resolve()
            if target.is_symlink() or root not in real.parents:
                raise InputError(f"{where} is a link; links are not followed. Give the file itself.")
            raw: IO[bytes] = open(real, "rb")  # noqa: SIM115
        elif zipfile.is_zipfile(path):
            zf = zipfile.ZipFile(path)  # noqa: SIM115 (closed with the member)
            info = zf.getinfo(name)
            if info.file_size > limits.inflated:
                zf.close()
                raise InputError(f"{where} declares {_size(info.file_size)}, over the cap of "
                                 f"{_size(limits.inflated)} per member.")
            raw = _Closing(zf.open(info), zf)
        else:
            tf = tarfile.open(path)  # noqa: SIM115 (closed with the member)
            member = tf.getmember(name)
            if member.issym() or member.islnk():
                tf.close()
                raise InputError(f"{where} is a link inside the archive; links are not followed. "
                                 "Give the export as the server wrote it.")
            fh = tf.extractfile(member) if member.isfile() else None
            if fh is None:
                tf.close()
                raise InputError(f"{where} is not a regular file.")
            raw = _Closing(fh, tf)
    except InputError:
        raise
    except (*_BROKEN, KeyError, _zstd_error()) as exc:
        raise InputError(f"{where}: cannot be read from the archive ({type(exc).__name__}).") from None
    return guard(raw, where, limits.inflated)


def iter_lines(fh: IO[bytes], limit: int = DEFAULT_LIMITS.line) -> Iterator[tuple[int, bytes | Reject]]:
    """(1-based line number, line with its ending) for every line of ``fh``.

    A line longer than ``limit`` bytes is yielded as one ``line_too_long``
    :class:`Reject` and skipped up to its end, holding at most ``limit`` bytes.
    """
    n = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        n += 1
        if len(line) > limit and not line.endswith(b"\n"):
            skipped, line = len(line), b""
            while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                skipped += len(rest)
            skipped += len(rest)
            yield n, Reject(n, LINE_TOO_LONG, f"a line of over {_size(limit)} ({skipped:,} bytes) was skipped")
            continue
        yield n, line


def loads(text: str) -> Any:
    """``json.loads``, with nesting too deep for the parser as a ``ValueError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None

