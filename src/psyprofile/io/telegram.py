"""A Telegram Desktop export (``result.json``, "Machine-readable JSON"): one chat, a channel,
or "all chats" (``chats.list[]``, plus ``left_chats.list[]``).

Each message of type ``message`` is a post: ``from_id`` (``user123``, ``channel123``) is its
author (pseudonymised by ingest like any user id; the display name ``from`` is never read),
``date_unixtime`` (UTC epoch seconds; older exports have only ``date``, the exporting
computer's local time, then taken as UTC) its time, and ``text`` its text, either a string or
a list of strings and entity objects (``{"type": "bold", "text": ...}``) that are joined.
Skipped, each counted: ``service`` messages (someone joined, a call, a pinned message) as
``not_a_post``; forwarded messages (``forwarded_from``, or ``saved_from`` in Saved Messages) as
``forwarded``, since they are someone else's words, like retweets; a message without text
(a photo or sticker only) as ``no_text``. The message id is ``<chat id>:<message id>``
(ingest pseudonymises it), because Telegram numbers messages per chat.

A chat export holds everyone's messages in that chat, so this is not a single-person export:
every author is kept under their own pseudonym.

Group columns: ``--group-col chat`` labels each message with its chat, ``chat_type`` with the
chat's type; any other name is a (dotted) field of the message. The name of a personal chat is
the other person's name, and that of a private group is chosen by private people, so only
public channels and public supergroups are labelled by their (public) name; every other chat
is labelled by its type and its position in the export (``personal_chat 3``): no one's name
and no raw id enters the study. Such labels are unique within one export only.

The file is parsed as a stream (``ijson``), one message in memory at a time, so an "all
chats" export of many gigabytes reads in bounded memory. Where the JSON breaks (a cut-short
file; also an integer beyond 64 bits, which its parser cannot hold and no real export has),
the rest of the file is one ``bad_json`` reject and a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from psyprofile.errors import InputError, printable
from psyprofile.io.base import (
    BAD_JSON,
    NO_TEXT,
    NOT_A_POST,
    WRONG_TYPE,
    Chunk,
    ColumnMap,
    FileInfo,
    Reject,
)
from psyprofile.io.export import Export, members
from psyprofile.io.jsonl import ChunkBuilder, WrongType, as_scalar, check_columns_unused, lookup

FORWARDED = "forwarded"
CHAT = "chat"
CHAT_TYPE = "chat_type"
RESULT = "result.json"
_RESULT = re.compile(r"/result\.json$")
# Telegram's own nesting is a handful of levels (chats.list[].messages[].text[] entities).
MAX_DEPTH = 64
_PUBLIC = {"public_channel", "public_supergroup"}
# Where chats sit in the file: the top level (one chat) or the items of these lists.
_CHAT_PREFIXES = ("", "chats.list.item.", "left_chats.list.item.")
_LISTS = tuple(p + "messages" for p in _CHAT_PREFIXES)
_MESSAGES = tuple(p + ".item" for p in _LISTS)
_CHAT_STARTS = {p[:-1] for p in _CHAT_PREFIXES if p}
# What the first bytes of a result.json show: a chat's type, or the all-chats header.
LOOKS_LIKE = re.compile(
    r'"type"\s*:\s*"(?:personal_chat|private_group|private_supergroup|public_supergroup|'
    r'private_channel|public_channel|bot_chat|saved_messages)"|"personal_information"\s*:\s*\{'
)


def message_text(value: Any) -> str | None:
    """The plain text of a message's ``text``: a string, or a list of strings and entity
    objects whose ``text`` parts are joined in order. Raises :class:`WrongType` otherwise."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for part in value:
            piece = part.get("text") if isinstance(part, dict) else part
            if not isinstance(piece, str):
                raise WrongType("'text' holds a part that is neither text nor a text entity")
            parts.append(piece)
        return "".join(parts)
    raise WrongType("'text' is neither text nor a list of text parts")


class _Chat:
    """What the export says about the chat whose messages are being read."""

    def __init__(self, position: int) -> None:
        self.position = position
        self.name: str | None = None
        self.type: str | None = None
        self.id: str | None = None

    def label(self) -> str:
        if self.type in _PUBLIC and self.name:
            return self.name
        return f"{self.type or 'chat'} {self.position}"


def _member(export: Export) -> str:
    found = members(export, _RESULT) if export.archive else export.names
    if not found:
        html = any(n.lower().endswith("messages.html") for n in export.names)
        fix = ("It is the HTML form of the export: export again choosing 'Machine-readable JSON'."
               if html else "Give the export folder or its result.json.")
        raise InputError(f"{export.path}: no {RESULT} found in this Telegram export. {fix}")
    if len(found) > 1:
        raise InputError(f"{export.path}: {len(found)} {RESULT} files found in it; give one "
                         "export at a time.")
    return found[0]


def read_telegram(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """The messages of every chat in the export; ``columns.groups`` may name ``chat``,
    ``chat_type`` or (dotted) message fields."""
    import ijson

    check_columns_unused(path, columns, "telegram")
    export = Export(path, info.limits)
    name = _member(export)
    builder = ChunkBuilder(path, columns.groups, chunk_rows)
    chat = _Chat(1)  # a one-chat export: the file itself is the chat
    chats = row = 0
    message: ijson.ObjectBuilder | None = None
    msg_prefix = ""
    seen_messages = False
    with export.open(name) as fh:
        try:
            for prefix, event, value in _events(fh):
                if message is not None:
                    message.event(event, value)
                    if prefix == msg_prefix and event in ("end_map", "end_array"):
                        row += 1
                        if builder.full():
                            yield builder.take()
                        _add(builder, row, message.value, chat, columns.groups)
                        message = None
                    continue
                if prefix in _LISTS and event == "start_array":
                    seen_messages = True
                elif prefix in _MESSAGES:
                    if event in ("start_map", "start_array"):
                        message, msg_prefix = ijson.ObjectBuilder(), prefix
                        message.event(event, value)
                    else:
                        row += 1
                        if builder.full():
                            yield builder.take()
                        builder.reject(Reject(row, WRONG_TYPE, "the message is not an object"))
                    continue
                if event == "start_map" and prefix in _CHAT_STARTS:
                    chats += 1
                    chat = _Chat(chats)
                    continue
                _chat_field(chat, prefix, event, value)
        except _Broken as exc:
            if not seen_messages:
                raise InputError(f"{export.label(name)}: {exc}; is this a Telegram Desktop "
                                 "export in 'Machine-readable JSON'?") from None
            builder.reject(Reject(row + 1, BAD_JSON, f"{exc}; the rest of the file was not read"))
            info.notes.append(f"{name} is broken after message {row:,}: the rest was not read")
    if not seen_messages:
        raise InputError(f"{export.label(name)}: no \"messages\" list found; is this a Telegram "
                         "Desktop result.json (exported as 'Machine-readable JSON')?")
    info.notes.append(f"{max(chats, 1):,} chat(s) read")
    yield from builder.rest()


class _Broken(ValueError):
    """The JSON cannot be read on from here (the message says why, without file content)."""


def _events(fh) -> Iterator[tuple[str, str, Any]]:
    """(prefix, event, value) of ``fh`` as ``ijson.parse`` names them (``chats.list.item``),
    built here over ``ijson.basic_parse`` so that nesting deeper than :data:`MAX_DEPTH` is
    refused before any long prefix is made (ijson's own prefixes cost quadratic time there)."""
    import ijson

    # joined[d]: the prefix inside the d containers open (joined[0], the top level, is ""),
    # kept as the file is parsed so that no event joins the whole path again
    joined: list[str] = [""]
    try:
        # yajl's use_float mode refuses integers outside int64, and int64's minimum -2**63,
        # as an overflow (valid JSON), which would end the file there; Python ints and
        # Decimals take any number
        for event, value in ijson.basic_parse(fh):
            if event == "number" and type(value) is Decimal:
                value = float(value)
            if event == "map_key":
                prefix = joined[-2]
                joined[-1] = value if len(joined) == 2 else f"{prefix}.{value}"
            elif event in ("start_map", "start_array"):
                prefix = joined[-1]
                key = "item" if event == "start_array" else ""
                joined.append(key if len(joined) == 1 else f"{prefix}.{key}")
                if len(joined) > MAX_DEPTH + 1:
                    raise _Broken(f"nested deeper than {MAX_DEPTH} levels")
            elif event in ("end_map", "end_array"):
                joined.pop()
                prefix = joined[-1]
            else:
                prefix = joined[-1]
            yield prefix, event, value
    except ijson.JSONError as exc:
        # yajl's messages quote the text around the error; keep only the kind of error.
        raise _Broken(f"not valid JSON ({str(exc).split(':', 1)[0].splitlines()[0][:60]})") from None


def _chat_field(chat: _Chat, prefix: str, event: str, value: Any) -> None:
    """Note the chat's name, type or id when ``prefix`` is one of the chat's own fields."""
    for p in _CHAT_PREFIXES:
        if prefix.startswith(p) and prefix[len(p):] in ("name", "type", "id"):
            if event in ("string", "number"):
                setattr(chat, prefix[len(p):], str(value))
            return


def _add(builder: ChunkBuilder, row: int, msg: Any, chat: _Chat, groups: tuple[str, ...]) -> None:
    if not isinstance(msg, dict):
        builder.reject(Reject(row, WRONG_TYPE, "the message is not an object"))
        return
    kind = msg.get("type")
    if kind != "message":
        action = msg.get("action")
        what = (f"a service message ({printable(action, 40)})" if isinstance(action, str)
                else "a service message" if kind == "service" else "not a message")
        builder.reject(Reject(row, NOT_A_POST, what))
        return
    if "forwarded_from" in msg or "saved_from" in msg:
        builder.reject(Reject(row, FORWARDED, "a forwarded message: someone else's words"))
        return
    try:
        text = message_text(msg.get("text"))
        ident = as_scalar(msg.get("id"), "id")
        values = {
            "id": None if ident is None else f"{chat.id or chat.position}:{ident}",
            "user": as_scalar(msg.get("from_id"), "from_id"),
            "time": as_scalar(msg.get("date_unixtime") or msg.get("date"), "date"),
            **{g: _group(g, msg, chat) for g in groups},
        }
    except WrongType as exc:
        builder.reject(Reject(row, WRONG_TYPE, str(exc)))
        return
    if not text or not text.strip():
        builder.reject(Reject(row, NO_TEXT, "no text (a photo, sticker, file or poll only)"))
        return
    builder.post(row, {**values, "text": text})


def _group(name: str, msg: dict, chat: _Chat) -> str | None:
    if name == CHAT:
        return chat.label()
    if name == CHAT_TYPE:
        return chat.type
    return as_scalar(lookup(msg, name), name)
