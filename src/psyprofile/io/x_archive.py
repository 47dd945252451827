"""An X (Twitter) account archive, as downloaded (a .zip) or unpacked (a folder).

The posts are in ``data/tweets.js`` (``data/tweet.js`` in older archives; big archives
add ``data/tweets-part1.js`` ...): a line ``window.YTD.tweets.part0 = [`` followed by a
JSON array of ``{"tweet": {...}}``. The account's id, the user of every post, is in
``data/account.js``. Retweets (text starting ``RT @``) are someone else's words and are
skipped as ``not_a_post``. Each tweet's own ``lang`` tag goes to the ``lang`` column.

Also accepted: the archive's ``data/`` folder itself, and a bare ``tweets.js`` (what
data-donation tools hand over). Without ``account.js`` the posts' ``user`` is null and
``info.single_person`` tells ingest to name the donor (``--donor-id``).
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from psyprofile.errors import InputError, printable
from psyprofile.io.base import (
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
    NoArray,
    WrongType,
    as_scalar,
    as_text,
    check_columns_unused,
    iter_array,
    lookup,
)

# At the top of the export or in a data/ folder (the archive, or its data/ folder itself).
_TWEETS = re.compile(r"^(?:(?:.*/)?data/)?tweets?(?:-part(\d+))?\.js$")
_ACCOUNT = re.compile(r"^(?:(?:.*/)?data/)?account\.js$")
_OPENING = re.compile(r"=\s*\[")
_YTD = b"window.YTD."


def is_tweets_file(path: Path) -> bool:
    """Whether ``path`` is one tweets file (``tweets.js``, ``tweet.js``, ``tweets-part1.js``
    or any file starting ``window.YTD.tweets``) rather than an archive."""
    if not path.is_file() or is_archive(path):
        return False
    if _TWEETS.match(path.name.lower()):
        return True
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(_YTD + b"tweet")


def _members(path: Path) -> list[str]:
    """Names ('/'-separated) of the files in the archive, or the one tweets file."""
    if is_tweets_file(path):
        return [path.name]
    return archive_names(path)


@contextmanager
def _open(path: Path, name: str, limits: Limits) -> Iterator[IO[str]]:
    raw = open_binary(path, limits) if path.is_file() and not is_archive(path) else open_member(path, name, limits)
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace") as text:
        yield text


def tweet_files(names: list[str]) -> list[str]:
    """The tweet files among ``names``, in part order (``tweets.js`` first)."""
    found = {n: m for n in names if (m := _TWEETS.match(n))}
    in_data = {n: m for n, m in found.items() if n.startswith("data/") or "/data/" in n}
    # An archive: only its data/ folder counts, not a stray tweets.js beside it.
    found = in_data or found
    return sorted(found, key=lambda n: int(found[n].group(1) or -1))


def is_x_archive(path: Path) -> bool:
    """Whether ``path`` (a folder, .zip or tweets file) is an X archive, i.e. holds tweets."""
    try:
        return bool(tweet_files(_members(path)))
    except InputError:
        return False


def _account_id(path: Path, names: list[str], info: FileInfo) -> str | None:
    """The account id from ``account.js``, or None (with a note) when there is none."""
    account = next((n for n in names if _ACCOUNT.match(n)), None)
    if account is None or is_tweets_file(path):
        info.notes.append("no data/account.js, so the export does not name its author; "
                          "name the donor with --donor-id")
        return None
    with _open(path, account, info.limits) as fh:
        text = fh.read(info.limits.line + 1)
    fix = "Give the whole archive as downloaded (its data/account.js names the account)."
    if len(text) > info.limits.line:
        raise InputError(f"{path}: {printable(account, 80)} is over {info.limits.line >> 20} MiB, far more than "
                         f"an account record. {fix}")
    try:
        entries = json.loads(text[text.index("[", text.index("=")):])
        acc = entries[0]["account"]
        return as_scalar(acc.get("accountId") or acc["username"], "accountId")
    except (ValueError, LookupError, TypeError, AttributeError, RecursionError, WrongType) as exc:
        raise InputError(f"{path}: cannot read the account id from {printable(account, 80)} "
                         f"({type(exc).__name__}). {fix}") from None


def read_x_archive(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """Posts of the archive's account; ``columns.groups`` adds tweet fields as groups."""
    check_columns_unused(path, columns, "x-archive")
    info.single_person = True
    names = _members(path)
    files = tweet_files(names)
    if not files:
        raise InputError(f"{path}: no data/tweets.js found; is this an X archive?")
    user = _account_id(path, names, info)
    builder = ChunkBuilder(path, columns.groups, chunk_rows, optional=(LANG,))
    offset = 0
    for name in files:
        last, shown = 0, printable(name, 80)
        with _open(path, name, info.limits) as fh:
            try:
                for index, element in iter_array(fh, _OPENING, max_chars=info.limits.line):
                    last, row = index, offset + index
                    if builder.full():
                        yield builder.take()
                    if isinstance(element, Reject):
                        builder.reject(Reject(row, element.reason, f"{shown}: {element.detail}"))
                        info.notes.append(f"{shown} is broken after tweet {index - 1:,}: {element.detail}")
                    else:
                        _add(builder, row, element, user, columns.groups)
            except NoArray:
                raise InputError(f"{path}: {shown} does not hold a JSON array; is the archive intact?") from None
        offset += last
    yield from builder.rest()


def _add(builder: ChunkBuilder, row: int, element: object, user: str | None, groups: tuple[str, ...]) -> None:
    """Add one element of the tweets array (``{"tweet": {...}}``, or a bare tweet)."""
    tweet = element.get("tweet", element) if isinstance(element, dict) else None
    if not isinstance(tweet, dict):
        builder.reject(Reject(row, WRONG_TYPE, "the element is not a tweet object"))
        return
    try:
        text = as_text(tweet.get("full_text", tweet.get("text")), "full_text")
        values = {
            "id": as_scalar(tweet.get("id_str", tweet.get("id")), "id_str"),
            "time": as_scalar(tweet.get("created_at"), "created_at"),
            LANG: as_scalar(tweet.get("lang"), "lang"),
            **{g: as_scalar(lookup(tweet, g), g) for g in groups},
        }
    except WrongType as exc:
        builder.reject(Reject(row, WRONG_TYPE, str(exc)))
        return
    if text is not None and text.startswith("RT @"):
        builder.reject(Reject(row, NOT_A_POST, "a retweet"))
        return
    # X writes &, < and > in tweet text as HTML entities.
    builder.post(row, {**values, "user": user, "text": html.unescape(text) if text else text})
