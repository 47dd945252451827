"""A platform export as the researcher got it: one file, an unpacked folder, or an archive.

Meta's "Download your information", Telegram Desktop and Bluesky exports are folders of
files, usually handed over zipped. :class:`Export` lists the member files of any of these
forms under one '/'-separated naming and opens a member for streaming reads, through the
bounded openers of :mod:`psyprofile.io.bounds` (size caps, no links followed, broken data as
an :class:`InputError`); the readers of those platforms pick the members they read by name.
A plain file (.gz, .zst and .bz2 too) is an export of one member.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path
from typing import IO

from psyprofile.errors import printable
from psyprofile.io.base import DEFAULT_LIMITS, Limits
from psyprofile.io.bounds import TAR_SUFFIXES, archive_names, open_binary, open_member


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a folder, .zip or .tar(.gz) (rather than one file)."""
    if path.is_dir() or zipfile.is_zipfile(path):
        return True
    return path.name.lower().endswith(TAR_SUFFIXES) and tarfile.is_tarfile(path)


class Export:
    """The member files of ``path`` (a file, a folder, a .zip or a .tar(.gz))."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        self.archive = is_archive(path)
        self.names = sorted(archive_names(path)) if self.archive else [path.name]

    def label(self, name: str) -> str:
        """How a member is named in messages: the file itself, or ``export: member``."""
        return f"{self.path}: {printable(name, 120)}" if self.archive else str(self.path)

    def open(self, name: str) -> IO[bytes]:
        """Member ``name`` opened for binary streaming reads (close it, or use ``with``)."""
        if self.archive:
            return open_member(self.path, name, self.limits)
        return open_binary(self.path, self.limits)


def members(export: Export, pattern: re.Pattern[str]) -> list[str]:
    """The member names of ``export`` that ``pattern`` finds (searched on the
    '/'-separated name with a leading '/'), in name order; for a plain file, its name."""
    if not export.archive:
        return export.names
    return [n for n in export.names if pattern.search("/" + n)]
