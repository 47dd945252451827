"""Reddit comments and submissions as Pushshift-style JSON lines (plain, .gz or .zst dumps).

A comment's text is its ``body``; a submission's is its ``title``, a blank line and its
``selftext`` (link posts have only a title). The subreddit becomes the group column
``subreddit``. Posts whose author or text Reddit replaced by ``[deleted]``/``[removed]``
are not the user's text any more: they are skipped under their own reasons. Pushshift
stores text HTML-escaped (``&gt;``, ``&lt;``, ``&amp;``); it is unescaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

from psyprofile.io.base import (
    DELETED_TEXT,
    DELETED_USER,
    GONE,
    NOT_A_POST,
    WRONG_TYPE,
    Chunk,
    ColumnMap,
    FileInfo,
    Reject,
)
from psyprofile.io.jsonl import (
    ChunkBuilder,
    WrongType,
    as_scalar,
    as_text,
    check_columns_unused,
    read_records,
)

# Keys that mark a record as Reddit's (used by format detection).
REDDIT_KEYS = ("subreddit", "author")


def looks_like_reddit(record: object) -> bool:
    """Whether a parsed JSON record is a Reddit comment or submission."""
    return (isinstance(record, dict) and all(k in record for k in REDDIT_KEYS)
            and any(k in record for k in ("body", "selftext", "title")))


def _post(rec: dict) -> tuple[str | None, str | None, str]:
    """(text, id with its Reddit type prefix, reason or '') of a comment or submission."""
    if "body" in rec:
        body = as_text(rec["body"], "body")
        if body is not None and body.strip() in GONE:
            return None, None, DELETED_TEXT
        prefix = "t1_"
        text = html.unescape(body) if body else body
    elif "title" in rec or "selftext" in rec:
        title = html.unescape(as_text(rec.get("title"), "title") or "")
        selftext = html.unescape(as_text(rec.get("selftext"), "selftext") or "")
        if selftext.strip() in GONE:
            if not title.strip():
                return None, None, DELETED_TEXT
            selftext = ""  # the body was removed; the title is still the author's own
        prefix = "t3_"
        text = f"{title}\n\n{selftext}" if title and selftext else title or selftext
    else:
        return None, None, NOT_A_POST
    raw_id = as_scalar(rec.get("id"), "id")
    post_id = as_scalar(rec.get("name"), "name") or (prefix + raw_id if raw_id else None)
    return text, post_id, ""


def read_reddit(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """Posts from Reddit JSON lines; ``columns.groups`` adds more record fields as groups."""
    check_columns_unused(path, columns, "reddit")
    groups = ("subreddit", *(g for g in columns.groups if g != "subreddit"))
    builder = ChunkBuilder(path, groups, chunk_rows)
    for row, rec in read_records(path, info.limits, lines=True):  # dumps are JSON lines
        if builder.full():
            yield builder.take()
        if isinstance(rec, Reject):
            builder.reject(rec)
            continue
        if not isinstance(rec, dict):
            builder.reject(Reject(row, WRONG_TYPE, "the record is not an object"))
            continue
        try:
            text, post_id, reason = _post(rec)
            user = as_scalar(rec.get("author"), "author")
            values = {g: as_scalar(rec.get(g), g) for g in groups}
            time = as_scalar(rec.get("created_utc"), "created_utc")
        except WrongType as exc:
            builder.reject(Reject(row, WRONG_TYPE, str(exc)))
            continue
        if not reason and user is not None and user.strip() in GONE:
            reason = DELETED_USER
        if reason:
            builder.reject(Reject(row, reason))
        else:
            builder.post(row, {"id": post_id, "user": user, "text": text, "time": time, **values})
    yield from builder.rest()
