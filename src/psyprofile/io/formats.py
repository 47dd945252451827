"""The registry of input formats and detection of a file's format."""

from __future__ import annotations

from pathlib import Path

from psyprofile.errors import InputError
from psyprofile.io.base import Reader
from psyprofile.io.tabular import read_csv, read_parquet, read_tsv

READERS: dict[str, Reader] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "parquet": read_parquet,
}
FORMATS = tuple(READERS)


def get_reader(fmt: str) -> Reader:
    try:
        return READERS[fmt]
    except KeyError:
        raise InputError(f"unknown format '{fmt}'. Known formats: {', '.join(FORMATS)}, or 'auto'.") from None


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` from its name and, where that is ambiguous, its content."""
    name = path.name.lower()
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"{path}: cannot tell the format from its name; give --format ({', '.join(FORMATS)}).")
