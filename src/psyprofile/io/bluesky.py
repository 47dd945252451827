"""Bluesky (AT Protocol): an account's repository export (``.car``) or its records as JSON.

A repository export (Settings > Export my data, or ``com.atproto.sync.getRepo``) is a CAR
file: the root block is the signed commit, whose ``data`` links to a Merkle search tree whose
entries map ``collection/record-key`` to record blocks. The CAR and DAG-CBOR decoding is done
by ``libipld``; this module only walks the tree, in key order.

Records as JSON: a ``com.atproto.repo.listRecords`` page (``{"records": [{"uri", "cid",
"value"}], "cursor"}``), a JSON array, or JSON lines, of such records or of bare record values.

A ``app.bsky.feed.post`` record is a post: ``text``, ``createdAt`` and the first of its
``langs`` as the platform's language tag; its id is its ``at://`` URI. Every other record is
counted as ``not_a_post``: reposts (``app.bsky.feed.repost``, someone else's post) by name,
likes, follows, the profile and the rest by their collection. The author is the repository's
DID (the commit's ``did``, or the DID in a record's URI); bare record values carry none, so
``user`` is null and ingest's donor id names the account holder (``FileInfo.single_person``).

A CAR file is decoded whole, so it is refused above :data:`MAX_CAR_BYTES` (large accounts'
repositories are tens of megabytes).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from psyprofile.errors import InputError
from psyprofile.io.base import LANG, NOT_A_POST, WRONG_TYPE, Chunk, ColumnMap, FileInfo, Reject
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
    open_binary,
    peek_text,
    read_records,
)

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
# A record the tree links to but the CAR file does not hold (a partial export).
MISSING_RECORD = "missing_record"
MAX_CAR_BYTES = 1 << 30
# A repository's tree has a layer per 4 bits of key-hash zeros: some 10 layers for millions of
# records. Deeper is a broken or hostile file (and would exhaust Python's recursion).
MAX_TREE_DEPTH = 64
# After the header's one-byte length: the DAG-CBOR map {"roots": ..., "version": 1}, whose
# keys canonical DAG-CBOR orders shortest first.
CAR_MAGIC = b"\xa2eroots"
_CAR = re.compile(r"\.car$", re.IGNORECASE)
_LIST_PAGE = re.compile(r'\A\s*\{\s*"(?:records|cursor)"\s*:')
_RECORDS = re.compile(r'"records"\s*:\s*\[')
# Bluesky record JSON in the first bytes of a file (detection).
LOOKS_LIKE = re.compile(r'"\$type"\s*:\s*"app\.bsky\.')


def is_car(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts a CAR v1 file."""
    return head[1:8] == CAR_MAGIC


def read_bluesky(path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int) -> Iterator[Chunk]:
    """The account's posts from a repository CAR (plain, in a folder or a .zip) or from
    record JSON; ``columns.groups`` adds (dotted) record fields as groups."""
    check_columns_unused(path, columns, "bluesky")
    info.single_person = True
    builder = ChunkBuilder(path, columns.groups, chunk_rows, optional=(LANG,))
    export = Export(path, info.limits)
    if not export.archive and not _CAR.search(path.name) and not _car_head(export):
        entries = _json_entries(path)
    else:
        entries = _car_entries(export)
    for row, entry in entries:
        if builder.full():
            yield builder.take()
        if isinstance(entry, Reject):
            builder.reject(entry)
            info.notes.append(f"the records are broken after record {row - 1:,}: {entry.detail}")
        else:
            _add(builder, row, *entry, columns.groups)
    yield from builder.rest()


def _car_head(export: Export) -> bool:
    with export.open(export.names[0]) as fh:
        return is_car(fh.read(16))


def _read_car(export: Export) -> tuple[str, bytes]:
    """(label, bytes) of the one CAR file in ``export``, size-checked."""
    found = export.names if not export.archive else members(export, _CAR)
    if len(found) != 1:
        what = "no .car file" if not found else f"{len(found)} .car files"
        raise InputError(f"{export.path}: {what} found in this Bluesky export; give the "
                         "repository export (one .car file) or record JSON.")
    label = export.label(found[0])
    with export.open(found[0]) as fh:
        data = fh.read(MAX_CAR_BYTES + 1)
    if len(data) > MAX_CAR_BYTES:
        raise InputError(f"{label}: over {MAX_CAR_BYTES >> 20:,} MiB, more than a repository "
                         "export holds; give the account's own export.")
    return label, data


def _car_entries(export: Export) -> Iterator[tuple[int, Any]]:
    """(row, (record, did, uri) or Reject) for each entry of the repository's tree."""
    import libipld

    label, data = _read_car(export)
    try:
        header, blocks = libipld.decode_car(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"{label}: not a readable CAR file ({str(exc)[:80]}); download the "
                         "repository export again.") from None
    del data
    roots = header.get("roots") if isinstance(header, dict) else None
    commit = _block(blocks, roots[0]) if isinstance(roots, list) and roots else None
    if not isinstance(commit, dict) or not isinstance(commit.get("did"), str) \
            or _block(blocks, commit.get("data")) is None:
        raise InputError(f"{label}: the CAR file has no repository commit at its root; is it an "
                         "AT Protocol repository export?")
    did = commit["did"]
    for row, (key, cid) in enumerate(_walk(blocks, commit["data"], label), 1):
        record = _block(blocks, cid)
        if record is None:
            yield row, Reject(row, MISSING_RECORD, "the record's block is not in the file")
        else:
            yield row, (record, did, f"at://{did}/{key}")


def _block(blocks: dict, cid: Any) -> Any:
    """The decoded block a link points to, or None (a link is a CID's bytes)."""
    return blocks.get(cid) if isinstance(cid, bytes) else None


def _walk(blocks: dict, root: bytes, label: str) -> Iterator[tuple[str, bytes]]:
    """(key, record CID) of the Merkle search tree under ``root``, in key order.

    Each node is visited once: a tree whose links meet again or loop (never the case in a
    real repository), or deeper than :data:`MAX_TREE_DEPTH`, is refused.
    """
    seen: set[bytes] = set()
    broken = InputError(f"{label}: the repository's tree is broken (a node is missing, repeated "
                        "or not a tree node); download the repository export again.")

    def walk(cid: Any, depth: int) -> Iterator[tuple[str, bytes]]:
        node = _block(blocks, cid)
        if not isinstance(node, dict) or not isinstance(node.get("e"), list) or cid in seen \
                or depth > MAX_TREE_DEPTH:
            raise broken
        seen.add(cid)
        if node.get("l") is not None:
            yield from walk(node["l"], depth + 1)
        key = b""
        for entry in node["e"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("k"), bytes) \
                    or not isinstance(entry.get("p"), int):
                raise broken
            key = key[:entry["p"]] + entry["k"]
            yield key.decode("utf-8", errors="replace"), entry.get("v")
            if entry.get("t") is not None:
                yield from walk(entry["t"], depth + 1)

    yield from walk(root, 0)


def _json_entries(path: Path) -> Iterator[tuple[int, Any]]:
    """(row, (record, did, uri) or Reject) for each record of a JSON file."""
    if _LIST_PAGE.search(peek_text(path, 4096)):
        with open_binary(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
            try:
                yield from ((r, _unwrap(e)) for r, e in iter_array(text, _RECORDS))
            except NoArray:
                raise InputError(f"{path}: no \"records\" list found; is this a listRecords "
                                 "page of Bluesky records?") from None
        return
    yield from ((r, _unwrap(e)) for r, e in read_records(path))


def _unwrap(element: Any) -> Any:
    """(record, did, uri) of a listRecords element or bare record value (a Reject as is)."""
    if isinstance(element, Reject):
        return element
    if not isinstance(element, dict):
        return element, None, None
    if isinstance(element.get("value"), dict):
        uri = element.get("uri")
        did = uri[5:].split("/", 1)[0] if isinstance(uri, str) and uri.startswith("at://") else None
        return element["value"], did, uri if isinstance(uri, str) else None
    return element, None, None


def _add(builder: ChunkBuilder, row: int, record: Any, did: str | None, uri: str | None,
         groups: tuple[str, ...]) -> None:
    if not isinstance(record, dict):
        builder.reject(Reject(row, WRONG_TYPE, "the record is not an object"))
        return
    kind = record.get("$type")
    if kind != POST:
        what = ("a repost of someone else's post" if kind == REPOST
                else f"a record of {kind}" if isinstance(kind, str) and re.fullmatch(r"[\w.]{1,80}", kind)
                else "a record of no known type")
        builder.reject(Reject(row, NOT_A_POST, what))
        return
    langs = record.get("langs")
    try:
        values = {
            "id": uri,
            "user": did,
            "text": as_text(record.get("text"), "text"),
            "time": as_scalar(record.get("createdAt"), "createdAt"),
            LANG: as_text(langs[0], "langs") if isinstance(langs, list) and langs else None,
            **{g: as_scalar(lookup(record, g), g) for g in groups},
        }
    except WrongType as exc:
        builder.reject(Reject(row, WRONG_TYPE, str(exc)))
        return
    builder.post(row, values)
