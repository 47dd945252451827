"""Meta "Download your information" exports in JSON: Facebook and Instagram posts and comments.

Read, as a folder, a .zip or the single file:

* Facebook ``your_posts*.json`` (a list of ``{"timestamp", "data": [{"post": text}, ...],
  "attachments", "title"}``; older exports wrap it in ``{"status_updates": [...]}``) and
  ``comments.json`` under ``comments/`` or ``comments_and_reactions/`` (``{"comments_v2": [
  {"timestamp", "data": [{"comment": {"comment": text, ...}}], "title"}]}``);
* Instagram ``content/posts_N.json`` (a list of ``{"media": [{"title": caption, ...}],
  "title", "creation_timestamp"}``: the caption is the post's ``title``, or its first
  media's when the post has one) and ``comments/post_comments_N.json`` (a list of
  ``{"string_map_data": {"Comment": {"value"}, "Time": {"timestamp"}}}``).

Every post is the account holder's (``FileInfo.single_person``); the export names them only by
display name, so ``user`` is null and ingest's donor id names them. Titles ("X updated her
status") and attachments are Meta's descriptions, not the person's words, and are not read;
an item without text of its own (a shared link, a photo without caption) is ``no_text``.
Messages (``messages/inbox``) are correspondence with other people and are never read.

Meta writes text as UTF-8 bytes each escaped as a Latin-1 character (``"\\u00f0\\u009f\\u0098
\\u0082"`` for 😂). :func:`repair_mojibake` undoes it and the file's notes count the items
repaired. A text that is not such a byte sequence (a correctly encoded export) is kept as is.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psyprofile.errors import InputError
from psyprofile.io.base import NO_TEXT, WRONG_TYPE, Chunk, ColumnMap, FileInfo, Reject
from psyprofile.io.export import Export, members
from psyprofile.io.jsonl import (
    ChunkBuilder,
    NoArray,
    WrongType,
    as_scalar,
    as_text,
    check_columns_unused,
    iter_array,
    lookup,
)

# A UTF-8 lead byte then a continuation byte, each written as one Latin-1 character.
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")
_TOP_LIST = r"\A\s*\["


def repair_mojibake(text: str) -> tuple[str, bool]:
    """``text`` with Meta's mis-encoding undone, and whether anything was repaired.

    Only a text made wholly of Latin-1 characters that decode as UTF-8 bytes is changed, so
    correctly encoded text (any character above U+00FF, or a lone ``é``) is left alone.
    """
    if not _MOJIBAKE.search(text):
        return text, False
    try:
        fixed = text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text, False
    return fixed, fixed != text


def _first(items: Any) -> dict:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def _joined(parts: Any, *keys: str) -> str | None:
    """The texts at ``keys`` (a path into each element) of the list ``parts``, one per line."""
    out = []
    for part in parts if isinstance(parts, list) else []:
        value = part
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        if value is not None:
            out.append(as_text(value, ".".join(("data", *keys))))
    return "\n".join(t for t in out if t) or None


def _fb_post(item: dict) -> tuple[str | None, Any]:
    return _joined(item.get("data"), "post"), item.get("timestamp")


def _fb_comment(item: dict) -> tuple[str | None, Any]:
    inner = _first(item.get("data")).get("comment")
    when = item.get("timestamp") or (inner.get("timestamp") if isinstance(inner, dict) else None)
    return _joined(item.get("data"), "comment", "comment"), when


def _ig_post(item: dict) -> tuple[str | None, Any]:
    media = _first(item.get("media"))
    text = as_text(item.get("title") or media.get("title"), "title")
    return text, item.get("creation_timestamp") or media.get("creation_timestamp")


def _ig_comment(item: dict) -> tuple[str | None, Any]:
    fields = item.get("string_map_data")
    fields = fields if isinstance(fields, dict) else {}
    comment = fields.get("Comment")
    stamp = fields.get("Time")
    return (as_text(comment.get("value") if isinstance(comment, dict) else None, "Comment.value"),
            stamp.get("timestamp") if isinstance(stamp, dict) else None)


@dataclass(frozen=True)
class _Source:
    """One kind of file in an export: which members, where its list starts, how to read an item."""

    what: str
    member: re.Pattern[str]
    opening: re.Pattern[str]
    item: Callable[[dict], tuple[str | None, Any]]


FACEBOOK = (
    _Source("posts", re.compile(r"/your_posts[^/]*\.json$"),
            re.compile(rf'(?:{_TOP_LIST}|"status_updates"\s*:\s*\[)'), _fb_post),
    _Source("comments", re.compile(r"/comments(?:_and_reactions)?/comments\.json$"),
            re.compile(r'"comments(?:_v2)?"\s*:\s*\['), _fb_comment),
)
INSTAGRAM = (
    _Source("posts", re.compile(r"/content/posts_\d+\.json$"), re.compile(_TOP_LIST), _ig_post),
    _Source("comments", re.compile(r"/comments/post_comments(?:_\d+)?\.json$"),
            re.compile(rf'(?:{_TOP_LIST}|"comments_media_comments"\s*:\s*\[)'), _ig_comment),
)
# A bare file is known by its name alone (no folder around it to match).
_BARE = {
    "facebook": ((re.compile(r"^your_posts"), 0), (re.compile(r"^comments"), 1)),
    "instagram": ((re.compile(r"^posts_\d"), 0), (re.compile(r"^post_comments"), 1)),
}
_PLATFORMS = {"facebook": FACEBOOK, "instagram": INSTAGRAM}


def export_members(export: Export, platform: str) -> list[tuple[str, _Source]]:
    """The members of ``export`` that ``platform``'s reader reads, with their kind."""
    sources = _PLATFORMS[platform]
    if not export.archive:
        name = export.path.name.lower()
        kind = next((i for pat, i in _BARE[platform] if pat.search(name)), None)
        return [] if kind is None else [(export.names[0], sources[kind])]
    return [(n, s) for s in sources for n in members(export, s.member)]


def is_meta_export(export: Export, platform: str) -> bool:
    """Whether ``export`` holds files that ``platform``'s reader reads."""
    return bool(export_members(export, platform))


def _missing(export: Export, platform: str) -> InputError:
    files = ("your_posts_1.json or comments/comments.json" if platform == "facebook"
             else "content/posts_1.json or comments/post_comments_1.json")
    html = any(n.lower().endswith(".html") for n in export.names)
    fix = ("It is the HTML form of the export: request it again choosing the JSON format."
           if html else "Give the export as downloaded, in JSON format.")
    return InputError(f"{export.path}: no {files} found in this {platform.title()} export. {fix}")


def _read(platform: str, path: Path, columns: ColumnMap, info: FileInfo,
          chunk_rows: int) -> Iterator[Chunk]:
    check_columns_unused(path, columns, platform)
    export = Export(path, info.limits)
    todo = export_members(export, platform)
    if not todo:
        raise _missing(export, platform)
    info.single_person = True
    builder = ChunkBuilder(path, columns.groups, chunk_rows)
    repaired = offset = 0
    for name, source in todo:
        label = export.label(name)
        last = 0
        with export.open(name) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
            try:
                for index, item in iter_array(text, source.opening):
                    last, row = index, offset + index
                    if builder.full():
                        yield builder.take()
                    if isinstance(item, Reject):
                        builder.reject(Reject(row, item.reason, f"{name}: {item.detail}"))
                        info.notes.append(f"{name} is broken after item {index - 1:,}: {item.detail}")
                    else:
                        repaired += _add(builder, row, item, source, columns.groups)
            except NoArray:
                raise InputError(
                    f"{label}: no list of {source.what} found where {platform.title()} writes "
                    "it; is this file from \"Download your information\" in JSON format?"
                ) from None
        offset += last
    if repaired:
        info.notes.append(f"repaired Meta's mis-encoded text (UTF-8 bytes written as Latin-1) "
                          f"in {repaired:,} item{'' if repaired == 1 else 's'}")
    yield from builder.rest()


def _add(builder: ChunkBuilder, row: int, item: object, source: _Source,
         groups: tuple[str, ...]) -> int:
    """Add one item; returns 1 if its text was repaired, else 0."""
    if not isinstance(item, dict):
        builder.reject(Reject(row, WRONG_TYPE, f"the item is not an object (in {source.what})"))
        return 0
    try:
        text, when = source.item(item)
        values = {"time": as_scalar(when, "timestamp"),
                  **{g: as_scalar(lookup(item, g), g) for g in groups}}
    except WrongType as exc:
        builder.reject(Reject(row, WRONG_TYPE, str(exc)))
        return 0
    if not text or not text.strip():
        builder.reject(Reject(row, NO_TEXT, "no text of its own (a shared link, photo or "
                                            "sticker only)"))
        return 0
    text, fixed = repair_mojibake(text)
    for g in groups:
        if values[g] is not None:
            values[g] = repair_mojibake(values[g])[0]
    builder.post(row, {**values, "text": text})
    return int(fixed)


def read_facebook(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """The account holder's Facebook posts and comments; ``columns.groups`` adds item fields
    (dotted, e.g. ``title``) as groups."""
    yield from _read("facebook", path, columns, info, chunk_rows)


def read_instagram(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """The account holder's Instagram captions and comments; ``columns.groups`` adds item
    fields (dotted) as groups."""
    yield from _read("instagram", path, columns, info, chunk_rows)
