"""The registry of input formats and detection of a file's format."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from psyprofile.errors import InputError
from psyprofile.io.base import Reader
from psyprofile.io.bounds import loads
from psyprofile.io.jsonl import peek_text, read_jsonl
from psyprofile.io.mastodon import OUTBOX, outbox_member, read_mastodon
from psyprofile.io.platforms import PLATFORM_READERS, archive_platform, file_platform
from psyprofile.io.reddit import looks_like_reddit, read_reddit
from psyprofile.io.tabular import read_csv, read_parquet, read_tsv
from psyprofile.io.x_archive import is_tweets_file, is_x_archive, read_x_archive

READERS: dict[str, Reader] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "parquet": read_parquet,
    "jsonl": read_jsonl,
    "x-archive": read_x_archive,
    "reddit": read_reddit,
    "mastodon": read_mastodon,
    **PLATFORM_READERS,
}
FORMATS = tuple(READERS)

_COMPRESSED = (".gz", ".zst", ".bz2")
_TABULAR = ((".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".parquet", "parquet"))
_JSON = (".jsonl", ".ndjson", ".json")
_TAR = (".tar", ".tar.gz", ".tgz")
_COLLECTION = re.compile(r'"type"\s*:\s*"OrderedCollection"')


def get_reader(fmt: str) -> Reader:
    try:
        return READERS[fmt]
    except KeyError:
        raise InputError(f"unknown format '{fmt}'. Known formats: {', '.join(FORMATS)}, or 'auto'.") from None


def _archive_format(path: Path) -> str:
    """The format of an export given as a folder or archive file."""
    if is_x_archive(path):
        return "x-archive"
    if outbox_member(path):
        return "mastodon"
    if platform := archive_platform(path):
        return platform
    raise InputError(
        f"{path}: no X archive (data/tweets.js), Mastodon export ({OUTBOX}), Facebook, "
        f"Instagram, Telegram or Bluesky export was found in it. Give the file(s) inside, or "
        f"the export as downloaded (with --format NAME if it is one of these)."
    )


def _json_format(path: Path) -> str:
    """'mastodon', 'reddit' or 'jsonl', from the first bytes of a JSON file."""
    if path.name.lower().split(".")[0] == "outbox":
        return "mastodon"
    head = peek_text(path)
    if _COLLECTION.search(head) and '"orderedItems"' in head:
        return "mastodon"
    # The first record that parses decides (a broken first line must not hide a Reddit dump).
    for line in [line for line in head.splitlines() if line.strip()][:5]:
        try:
            return "reddit" if looks_like_reddit(loads(line)) else "jsonl"
        except ValueError:  # not JSON, or nested too deeply
            continue
    return "jsonl"


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` from its name and content.

    Folders, .zip and .tar(.gz) files are X archives or Mastodon exports; .csv/.tsv/
    .parquet (optionally compressed) go by name; JSON files (.jsonl/.ndjson/.json, plain,
    .gz or .zst) by their first record: Reddit, a Mastodon outbox or generic JSON lines.
    A bare X ``tweets.js`` (by name or its ``window.YTD.tweets`` start) is an X archive.
    A name that tells nothing is settled by content: ``PAR1`` is Parquet, a zip an
    archive, a leading ``{`` or ``[`` JSON, anything else CSV.
    """
    if path.is_dir():
        return _archive_format(path)
    name = path.name.lower()
    if name.endswith((".zip", *_TAR)):
        return _archive_format(path)
    if is_tweets_file(path):  # a bare data/tweets.js, as data-donation tools hand it over
        return "x-archive"
    base = next((name[: -len(s)] for s in _COMPRESSED if name.endswith(s)), name)
    for suffix, fmt in _TABULAR:
        if base.endswith(suffix):
            return fmt
    if platform := file_platform(path):
        return platform
    if base.endswith(_JSON):
        return _json_format(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        return "parquet"
    if zipfile.is_zipfile(path):
        return _archive_format(path)
    if peek_text(path).lstrip()[:1] in ("{", "["):
        return _json_format(path)
    return "csv"
