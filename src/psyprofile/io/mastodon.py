"""A Mastodon (ActivityPub) account export: the posts in its ``outbox.json``.

The outbox is an ``OrderedCollection`` whose ``orderedItems`` are activities. A
``Create`` activity carries the user's post as ``object`` with HTML ``content``, which
is turned into plain text. Other activities (``Announce`` = a boost of someone else's
post) are not the user's own text and are skipped as ``not_a_post``. Direct messages
(addressed to named accounts only: neither the public nor the followers collection in
``to``/``cc``) are correspondence with other people, not posts, and are skipped as
``direct_message``; followers-only posts are kept, as the user's own posts.

Accepted: the ``outbox.json`` file itself (plain, .gz or .zst), or the export as a
folder, .zip or .tar.gz holding it.
"""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import IO

from psyprofile.errors import InputError
from psyprofile.io.base import (
    DIRECT_MESSAGE,
    NOT_A_POST,
    WRONG_TYPE,
    Chunk,
    ColumnMap,
    FileInfo,
    Reject,
)
from psyprofile.io.jsonl import (
    ChunkBuilder,
    NoArray,
    WrongType,
    as_scalar,
    as_text,
    check_columns_unused,
    iter_array,
    lookup,
    open_binary,
)

OUTBOX = "outbox.json"
_ITEMS = re.compile(r'"orderedItems"\s*:\s*\[')
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_PUBLIC = {"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"}


class _TextOf(HTMLParser):
    """Collects the text of an HTML fragment; line and paragraph breaks become newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML post body: tags dropped, entities unescaped, ``<br>`` a newline,
    ``</p>`` a blank line; leading and trailing white space removed."""
    parser = _TextOf()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.parts).strip()


def outbox_member(path: Path) -> str | None:
    """The name of the outbox inside an export folder, .zip or .tar(.gz), or None."""
    name = path.name.lower()
    try:
        if path.is_dir():
            found = sorted(path.glob(f"**/{OUTBOX}"))
            return found[0].relative_to(path).as_posix() if found else None
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return next((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == OUTBOX), None)
        if name.endswith(_TAR_SUFFIXES):
            with tarfile.open(path) as tf:
                return next((m.name for m in tf if m.name.rsplit("/", 1)[-1] == OUTBOX), None)
    except (OSError, zipfile.BadZipFile, tarfile.TarError):
        return None
    return None


@contextmanager
def _open_outbox(path: Path) -> Iterator[IO[str]]:
    if path.is_file() and not zipfile.is_zipfile(path) and not path.name.lower().endswith(_TAR_SUFFIXES):
        with open_binary(path) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
        return
    member = outbox_member(path)
    if member is None:
        raise InputError(f"{path}: no {OUTBOX} found in this Mastodon export; give the export as downloaded.")
    if path.is_dir():
        with open(path / member, "rb") as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf, zf.open(member) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
    else:
        with tarfile.open(path) as tf, tf.extractfile(member) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")


def read_mastodon(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """The account's own posts; ``columns.groups`` adds activity fields (dotted, e.g.
    ``object.sensitive``) as groups."""
    check_columns_unused(path, columns, "mastodon")
    builder = ChunkBuilder(path, columns.groups, chunk_rows)
    with _open_outbox(path) as fh:
        try:
            for row, item in iter_array(fh, _ITEMS):
                if builder.full():
                    yield builder.take()
                if isinstance(item, Reject):
                    builder.reject(item)
                    info.notes.append(f"the outbox is broken after item {row - 1:,}: {item.detail}")
                else:
                    _add(builder, row, item, columns.groups)
        except NoArray:
            raise InputError(
                f"{path}: no \"orderedItems\" list found; is this a Mastodon outbox.json?"
            ) from None
    yield from builder.rest()


def _add(builder: ChunkBuilder, row: int, item: object, groups: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        builder.reject(Reject(row, WRONG_TYPE, "the item is not an activity object"))
        return
    kind = item.get("type")
    obj = item.get("object")
    if kind != "Create" or not isinstance(obj, dict):
        what = "a boost of another post" if kind == "Announce" else f"a {kind} activity"
        builder.reject(Reject(row, NOT_A_POST, what))
        return
    if is_direct(item, obj):
        builder.reject(Reject(row, DIRECT_MESSAGE, "a direct message to named accounts"))
        return
    try:
        content = as_text(obj.get("content"), "object.content")
        values = {
            "id": as_scalar(obj.get("id"), "object.id"),
            "user": as_scalar(item.get("actor") or obj.get("attributedTo"), "actor"),
            "time": as_scalar(item.get("published") or obj.get("published"), "published"),
            **{g: as_scalar(lookup(item, g), g) for g in groups},
        }
    except WrongType as exc:
        builder.reject(Reject(row, WRONG_TYPE, str(exc)))
        return
    builder.post(row, {**values, "text": html_to_text(content) if content else content})


def is_direct(activity: dict, obj: dict) -> bool:
    """True for a direct message: addressed (``to``/``cc``) without the public or a
    followers collection. Items with no addressing at all are treated as posts."""
    audience: list[str] = []
    for holder in (activity, obj):
        for key in ("to", "cc"):
            v = holder.get(key)
            audience += [v] if isinstance(v, str) else [x for x in v or [] if isinstance(x, str)]
    if not audience:
        return False
    return not any(a in _PUBLIC or a.endswith("/followers") for a in audience)
