"""The data-donation formats (Facebook, Instagram, Telegram, Bluesky): their readers and how
``--format auto`` tells them apart, for :mod:`psyprofile.io.formats`.

An export given as a folder or archive is known by its member files; a single file by its
name together with its first bytes (so a file merely called ``posts_1.json`` that holds
something else stays generic JSON).
"""

from __future__ import annotations

import re
from pathlib import Path

from psyprofile.errors import InputError
from psyprofile.io.base import Reader
from psyprofile.io.bluesky import LOOKS_LIKE as BLUESKY_JSON
from psyprofile.io.bluesky import is_car, read_bluesky
from psyprofile.io.bounds import open_binary
from psyprofile.io.export import Export, members
from psyprofile.io.jsonl import peek_text
from psyprofile.io.meta import export_members, read_facebook, read_instagram
from psyprofile.io.telegram import LOOKS_LIKE as TELEGRAM_JSON
from psyprofile.io.telegram import read_telegram

PLATFORM_READERS: dict[str, Reader] = {
    "facebook": read_facebook,
    "instagram": read_instagram,
    "telegram": read_telegram,
    "bluesky": read_bluesky,
}
# What a Meta file's first bytes hold, beside its name.
_CONTENT = {
    "facebook": re.compile(r'"timestamp"\s*:|"comments(?:_v2)?"\s*:'),
    "instagram": re.compile(r'"creation_timestamp"\s*:|"string_map_data"\s*:'),
}
_RESULT = re.compile(r"/result\.json$")
_CAR = re.compile(r"\.car$", re.IGNORECASE)
_COMPRESSED = re.compile(r"\.(?:gz|zst|bz2)$")


def archive_platform(path: Path) -> str | None:
    """The donation platform whose export ``path`` (a folder or archive) is, or None."""
    try:
        export = Export(path)
    except InputError:
        return None
    for platform in ("facebook", "instagram"):
        if export_members(export, platform):
            return platform
    if members(export, _RESULT):
        return "telegram"
    if members(export, _CAR):
        return "bluesky"
    return None


def file_platform(path: Path) -> str | None:
    """The donation platform whose single file ``path`` is, or None."""
    name = _COMPRESSED.sub("", path.name.lower())
    try:
        with open_binary(path) as fh:
            first = fh.read(16)
    except (InputError, OSError):
        return None
    if name.endswith(".car") or is_car(first):
        return "bluesky"
    if not name.endswith((".json", ".jsonl", ".ndjson")):
        return None
    head = peek_text(path)
    export = Export(path)
    for platform, content in _CONTENT.items():
        if export_members(export, platform) and content.search(head):
            return platform
    if TELEGRAM_JSON.search(head):
        return "telegram"
    if BLUESKY_JSON.search(head):
        return "bluesky"
    return None
