"""A Mastodon (ActivityPub) account export: the posts in its ``outbox.json``.

The outbox is an ``OrderedCollection`` whose ``orderedItems`` are activities. A
``Create`` activity carries the user's post as ``object`` with HTML ``content``, which
is turned into plain text. Other activities (``Announce`` = a boost of someone else's
post) are not the user's own text and are skipped as ``not_a_post``. Direct messages
(addressed to named accounts only: neither the public nor the followers collection in
``to``/``cc``) are correspondence with other people, not posts, and are skipped as
``direct_message``; followers-only posts are kept, as the user's own posts, with
``audience = 'followers'`` (semi-private: ingest counts them and can leave them out).
A post's ``contentMap`` with a single language gives its ``lang`` column.

Mastodon's exporter (since 4.3) writes ``"orderedItems": []`` and then the real list
under the same key. Like ``json.load``, the reader takes the last list; it reads the
outbox twice (once to find the lists and ``totalItems``, once for the posts), so memory
stays bounded. An outbox whose ``totalItems`` differs from the number of items read is
refused: it is incomplete, and reading it would lose posts without a word.

Accepted: the ``outbox.json`` file itself (plain, .gz or .zst), or the export as a
folder, .zip or .tar.gz holding it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from psyprofile.errors import InputError, describe
from psyprofile.io.base import (
    AUDIENCE,
    DIRECT_MESSAGE,
    LANG,
    NOT_A_POST,
    WRONG_TYPE,
    Chunk,
    ColumnMap,
    FileInfo,
    Limits,
    Reject,
)
from psyprofile.io.bounds import archive_names, is_archive, open_binary, open_member
from psyprofile.io.jsonl import (
    ChunkBuilder,
    JsonStream,
    WrongType,
    as_scalar,
    as_text,
    check_columns_unused,
    lookup,
)

OUTBOX = "outbox.json"
ITEMS = "orderedItems"
_PUBLIC = {"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"}
PUBLIC, FOLLOWERS, DIRECT = "public", "followers", "direct"
# ActivityStreams activity types, named in reject details (any other value is not shown).
_ACTIVITY_TYPES = {"Create", "Update", "Delete", "Like", "Follow", "Undo", "Add", "Remove", "Block",
                   "Flag", "Move", "Accept", "Reject", "Question", "View"}


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
    try:
        names = archive_names(path)
    except InputError:
        return None
    found = [n for n in names if n.rsplit("/", 1)[-1] == OUTBOX]
    return min(found, key=lambda n: (n.count("/"), n)) if found else None


@contextmanager
def _open_outbox(path: Path, limits: Limits) -> Iterator[IO[str]]:
    member = outbox_member(path)
    if member is None and (path.is_dir() or is_archive(path)):
        raise InputError(f"{path}: no {OUTBOX} found in this Mastodon export; give the export as downloaded.")
    raw = open_binary(path, limits) if member is None else open_member(path, member, limits)
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace") as text:
        yield text


class _List:
    """The elements of one ``orderedItems`` list, to be consumed before reading on."""

    def __init__(self, elements: Iterator[tuple[int, Any]]) -> None:
        self.elements = elements


def _members(stream: JsonStream) -> Iterator[tuple[str, Any]]:
    """(key, value) of the outbox's top-level object, in file order; an ``orderedItems``
    list comes as a :class:`_List`. Raises ``ValueError`` where the JSON breaks."""
    if not stream.take("{"):
        raise ValueError("the outbox is not a JSON object")
    if stream.take("}"):
        return
    while True:
        key = stream.value()
        if not isinstance(key, str) or not stream.take(":"):
            raise ValueError("a key of the outbox object is broken")
        if key == ITEMS and stream.peek() == "[":
            stream.take("[")
            yield key, _List(stream.elements())
        else:
            yield key, stream.value()
        if stream.take(","):
            continue
        if stream.take("}"):
            return
        raise ValueError("no ',' or '}' after a member of the outbox object")


def _survey(path: Path, info: FileInfo) -> tuple[int, int]:
    """First pass: (number of ``orderedItems`` lists, items of the last one).

    Refuses an outbox without a list, or whose ``totalItems`` differs from the last list.
    """
    counts: list[int] = []
    total: Any = None
    broken = ""
    with _open_outbox(path, info.limits) as fh:
        stream = JsonStream(fh, max_chars=info.limits.line)
        try:
            for key, value in _members(stream):
                if isinstance(value, _List):
                    counts.append(0)
                    for _, element in value.elements:
                        counts[-1] += 1
                        if isinstance(element, Reject):
                            broken = element.detail
                    if broken:
                        break
                elif key == "totalItems":
                    total = value
        except ValueError as exc:
            if not counts:
                raise InputError(f"{path}: not a readable Mastodon outbox ({exc}).") from None
            info.notes.append(f"the outbox is broken after its item lists ({exc})")
    if not counts:
        raise InputError(f'{path}: no "{ITEMS}" list found; is this a Mastodon outbox.json?')
    if len(counts) > 1:
        info.notes.append(
            f'the outbox holds {len(counts)} "{ITEMS}" lists (a known bug of Mastodon\'s exporter) '
            f"with {', '.join(f'{n:,}' for n in counts)} items; the last was read, as JSON readers do")
    read = counts[-1] - (1 if broken else 0)
    if isinstance(total, int) and not isinstance(total, bool) and total != read:
        cut = f", then it breaks ({broken})" if broken else ""
        raise InputError(
            f"{path}: the outbox says it holds {total:,} items (totalItems) but {read:,} were "
            f"found{cut}. The export is incomplete: request a new export from the server."
        )
    return len(counts), counts[-1]


def read_mastodon(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """The account's own posts; ``columns.groups`` adds activity fields (dotted, e.g.
    ``object.sensitive``) as groups."""
    check_columns_unused(path, columns, "mastodon")
    info.single_person = True
    builder = ChunkBuilder(path, columns.groups, chunk_rows, optional=(LANG, AUDIENCE))
    lists, _ = _survey(path, info)
    with _open_outbox(path, info.limits) as fh:
        stream = JsonStream(fh, max_chars=info.limits.line)
        seen = 0
        try:
            for _, value in _members(stream):
                if not isinstance(value, _List):
                    continue
                seen += 1
                if seen < lists:
                    for _ in value.elements:
                        pass
                    continue
                for row, item in value.elements:
                    if builder.full():
                        yield builder.take()
                    if isinstance(item, Reject):
                        builder.reject(item)
                        info.notes.append(f"the outbox is broken after item {row - 1:,}: {item.detail}")
                    else:
                        _add(builder, row, item, columns.groups)
                break
        except ValueError:
            pass  # after the last list: the first pass has said so
    yield from builder.rest()


def _addresses(holder: dict, key: str) -> list[str]:
    """The ``to``/``cc`` addresses of an activity or object: a string, a list of strings,
    or nothing; anything else raises :class:`WrongType`."""
    v = holder.get(key)
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise WrongType(f"'{key}' is {describe(v)}, not a list of addresses")


def audience(activity: dict, obj: dict) -> str:
    """'public' (or unlisted), 'followers' (followers-only) or 'direct' (named accounts
    only), from the ``to``/``cc`` of the activity and its object. Items with no addressing
    at all are taken as public. Raises :class:`WrongType` on malformed addressing."""
    to = [a for holder in (activity, obj) for key in ("to", "cc") for a in _addresses(holder, key)]
    if not to or any(a in _PUBLIC for a in to):
        return PUBLIC
    return FOLLOWERS if any(a.endswith("/followers") for a in to) else DIRECT


def is_direct(activity: dict, obj: dict) -> bool:
    """True for a direct message: addressed without the public or a followers collection."""
    return audience(activity, obj) == DIRECT


def _content(obj: dict) -> tuple[str | None, str | None]:
    """(HTML content, language tag) of a post: ``content``, else the only ``contentMap``
    entry; the tag is the ``contentMap`` key when it has exactly one."""
    content = as_text(obj.get("content"), "object.content")
    cmap = obj.get("contentMap")
    if cmap is None:
        return content, None
    if not isinstance(cmap, dict):
        raise WrongType(f"'object.contentMap' is {describe(cmap)}, not an object")
    lang = None
    if len(cmap) == 1:
        lang, only = next(iter(cmap.items()))
        if content is None:
            content = as_text(only, "object.contentMap")
    return content, lang


def _add(builder: ChunkBuilder, row: int, item: object, groups: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        builder.reject(Reject(row, WRONG_TYPE, f"the item is {describe(item)}, not an activity object"))
        return
    kind = item.get("type")
    obj = item.get("object")
    if kind != "Create" or not isinstance(obj, dict):
        what = ("a boost of another post" if kind == "Announce"
                else f"a {kind} activity" if isinstance(kind, str) and kind in _ACTIVITY_TYPES
                else "an activity of another kind")
        builder.reject(Reject(row, NOT_A_POST, what))
        return
    try:
        seen_by = audience(item, obj)
        if seen_by == DIRECT:
            builder.reject(Reject(row, DIRECT_MESSAGE, "a direct message to named accounts"))
            return
        content, lang = _content(obj)
        values = {
            "id": as_scalar(obj.get("id"), "object.id"),
            "user": as_scalar(item.get("actor") or obj.get("attributedTo"), "actor"),
            "time": as_scalar(item.get("published") or obj.get("published"), "published"),
            LANG: lang,
            AUDIENCE: seen_by,
            **{g: as_scalar(lookup(item, g), g) for g in groups},
        }
    except WrongType as exc:
        builder.reject(Reject(row, WRONG_TYPE, str(exc)))
        return
    builder.post(row, {**values, "text": html_to_text(content) if content else content})
