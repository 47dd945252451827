"""An X (Twitter) account archive, as downloaded (a .zip) or unpacked (a folder).

The posts are in ``data/tweets.js`` (``data/tweet.js`` in older archives; big archives
add ``data/tweets-part1.js`` ...): a line ``window.YTD.tweets.part0 = [`` followed by a
JSON array of ``{"tweet": {...}}``. The account's id, the user of every post, is in
``data/account.js``. Retweets (text starting ``RT @``) are someone else's words and are
skipped as ``not_a_post``.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from psyprofile.errors import InputError
from psyprofile.io.base import NOT_A_POST, WRONG_TYPE, Chunk, ColumnMap, FileInfo, Reject
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

_TWEETS = re.compile(r"(?:^|/)data/tweets?(?:-part(\d+))?\.js$")
_ACCOUNT = re.compile(r"(?:^|/)data/account\.js$")
_OPENING = re.compile(r"=\s*\[")


def _members(path: Path) -> list[str]:
    """Names (relative, '/'-separated) of the files in the archive folder or zip."""
    if path.is_dir():
        return sorted(p.relative_to(path).as_posix() for p in path.glob("**/data/*.js"))
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a readable zip file ({exc}).") from None


@contextmanager
def _open(path: Path, name: str) -> Iterator[IO[str]]:
    if path.is_dir():
        with open(path / name, "rb") as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
    else:
        with zipfile.ZipFile(path) as zf, zf.open(name) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")


def tweet_files(names: list[str]) -> list[str]:
    """The tweet files among ``names``, in part order (``tweets.js`` first)."""
    found = {n: _TWEETS.search(n) for n in names}
    return sorted((n for n, m in found.items() if m), key=lambda n: int(found[n].group(1) or -1))


def is_x_archive(path: Path) -> bool:
    """Whether ``path`` (a folder or .zip) is an X archive, i.e. holds a tweets file."""
    try:
        return bool(tweet_files(_members(path)))
    except InputError:
        return False


def _account_id(path: Path, names: list[str]) -> str:
    account = next((n for n in names if _ACCOUNT.search(n)), None)
    fix = "Give the whole archive as downloaded (its data/account.js names the account)."
    if account is None:
        raise InputError(f"{path}: data/account.js not found, so the posts' author is unknown. {fix}")
    with _open(path, account) as fh:
        text = fh.read()
    try:
        entries = json.loads(text[text.index("[", text.index("=")):])
        acc = entries[0]["account"]
        return str(acc.get("accountId") or acc["username"])
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: cannot read the account id from {account} ({exc}). {fix}") from None


def read_x_archive(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """Posts of the archive's account; ``columns.groups`` adds tweet fields as groups."""
    check_columns_unused(path, columns, "x-archive")
    names = _members(path)
    files = tweet_files(names)
    if not files:
        raise InputError(f"{path}: no data/tweets.js found; is this an X archive?")
    user = _account_id(path, names)
    builder = ChunkBuilder(path, columns.groups, chunk_rows)
    offset = 0
    for name in files:
        last = 0
        with _open(path, name) as fh:
            try:
                for index, element in iter_array(fh, _OPENING):
                    last, row = index, offset + index
                    if builder.full():
                        yield builder.take()
                    if isinstance(element, Reject):
                        builder.reject(Reject(row, element.reason, f"{name}: {element.detail}"))
                        info.notes.append(f"{name} is broken after tweet {index - 1:,}: {element.detail}")
                    else:
                        _add(builder, row, element, user, columns.groups)
            except NoArray:
                raise InputError(f"{path}: {name} does not hold a JSON array; is the archive intact?") from None
        offset += last
    yield from builder.rest()


def _add(builder: ChunkBuilder, row: int, element: object, user: str, groups: tuple[str, ...]) -> None:
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
