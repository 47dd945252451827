"""Users of a job from an uploaded file, read by the same readers as ``psyprofile ingest``.

One row (or JSON record) per post; the user, text and time columns are found by their
usual names or given like ``ingest``'s ``--user-col`` options. Rows without a user or
text, or with a text over the schema's limit, are skipped and counted by reason.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.compute as pc

from psyprofile.api.jobs import UserInput
from psyprofile.api.schemas import MAX_JOB_USERS, MAX_TEXT_CHARS, MAX_TEXTS
from psyprofile.errors import InputError
from psyprofile.io.base import NO_TEXT, NO_USER, ColumnMap, FileInfo
from psyprofile.io.formats import detect_format, get_reader

TEXT_TOO_LONG = "text_too_long"


def users_from_file(path: Path, fmt: str = "auto", columns: ColumnMap | None = None,
                    name: str | None = None) -> tuple[list[UserInput], dict[str, int]]:
    """Group the posts of ``path`` by user: ``([(user, texts, timestamps|None)], rejected)``.

    ``name`` is the file name the client gave (for messages); ``rejected`` counts skipped
    rows by reason. Raises :class:`InputError` if nothing usable is left or a limit is passed.
    """
    shown = name or path.name
    fmt = detect_format(path) if fmt == "auto" else fmt
    rejected: Counter[str] = Counter()
    texts: dict[str, list[str]] = {}
    times: dict[str, list] = {}
    for chunk in get_reader(fmt)(path, columns or ColumnMap(), FileInfo(format=fmt), 50_000):
        rejected.update(r.reason for r in chunk.rejects)
        t = chunk.table
        users = [None if u is None else u.strip() for u in t["user"].to_pylist()]
        lengths = pc.utf8_length(t["text"]).to_pylist()
        for user, text, n, when in zip(users, t["text"].to_pylist(), lengths,
                                       t["time"].to_pylist(), strict=True):
            if not text or not text.strip():
                rejected[NO_TEXT] += 1
            elif not user:
                rejected[NO_USER] += 1
            elif n > MAX_TEXT_CHARS:
                rejected[TEXT_TOO_LONG] += 1
            else:
                texts.setdefault(user, []).append(text)
                times.setdefault(user, []).append(when)
    if not texts:
        raise InputError(f"{shown}: no usable posts (skipped: {dict(rejected) or 'none'}). Check "
                         "that the file has a user and a text column (or name them with "
                         "user_col and text_col).")
    if len(texts) > MAX_JOB_USERS:
        raise InputError(f"{shown}: {len(texts):,} users, more than the {MAX_JOB_USERS:,} one job "
                         "takes; split the file into several jobs.")
    crowded = [u for u, ts in texts.items() if len(ts) > MAX_TEXTS]
    if crowded:
        raise InputError(f"{shown}: {len(crowded):,} users have more than {MAX_TEXTS:,} posts "
                         "(the limit per user); keep each user's most recent posts.")
    out = []
    for user, ts in texts.items():
        when = times[user]
        stamps = None if any(w is None for w in when) else [w.isoformat() for w in when]
        out.append((user, ts, stamps))
    return out, dict(rejected)
