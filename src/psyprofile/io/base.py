"""What every reader yields: chunks of posts in one column layout, plus rows it rejected.

Readers only parse. They do not pseudonymise, dedupe or detect language: the ingest
pipeline (:mod:`psyprofile.io.ingest`) does that once for every format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa

# Columns of Chunk.table, in this order, then any group columns (all strings).
#   row   int64   1-based position of the record in its file: the line of a JSON lines file,
#                 the data record of a CSV/TSV/Parquet file, the element of a JSON array
#   id    string  the post's id in the source, or null
#   user  string  the author's id in the source, or null
#   text  string  the post text, or null
#   time  timestamp[us, tz=UTC], or null
POST_FIELDS = ("row", "id", "user", "text", "time")
POST_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.string()),
        ("user", pa.string()),
        ("text", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
    ]
)

# Optional columns a reader may add after POST_FIELDS (before any group column), as strings,
# when its format carries them; the pipeline treats a missing column as all-null.
#   lang      the platform's own language tag of the post (X `lang`, Mastodon `contentMap`,
#             Bluesky `langs[0]`), BCP-47 as given, or null; ingest prefers it to detection
#   audience  'public' or 'followers' (semi-private: Mastodon followers-only); null = public
LANG = "lang"
AUDIENCE = "audience"
OPTIONAL_FIELDS = (LANG, AUDIENCE)

# Reasons a row is not stored. Readers use these names; the pipeline adds its own.
NO_TEXT = "no_text"
NO_USER = "no_user"
BAD_TIME = "bad_time"
BAD_JSON = "bad_json"
WRONG_TYPE = "wrong_type"
NOT_A_POST = "not_a_post"
# Private correspondence (a Mastodon direct message): other people's conversation, not a post.
DIRECT_MESSAGE = "direct_message"
# The platform replaced the author or the text ([deleted]/[removed]): no longer the user's.
DELETED_USER = "deleted_user"
DELETED_TEXT = "deleted_text"
GONE = frozenset({"[deleted]", "[removed]"})
# A line (or CSV record, JSON array element) over Limits.line bytes, skipped unread.
LINE_TOO_LONG = "line_too_long"


@dataclass(frozen=True)
class Limits:
    """Caps on what one input may inflate to, in bytes.

    ``inflated``: bytes read out of one compressed file or one archive member (2 GiB: a
    decade of a heavy poster's X archive is well under 1 GiB). ``line``: bytes of one
    line of a text format, one CSV record, or one JSON array element (16 MiB: the longest
    real post is far under 1 MiB).
    """

    inflated: int = 2 << 30
    line: int = 16 << 20


DEFAULT_LIMITS = Limits()


@dataclass
class Reject:
    """A record the reader could not turn into a post row."""

    row: int
    reason: str
    detail: str = ""


@dataclass
class Chunk:
    """Up to ``chunk_rows`` posts read from one file, and the rows rejected on the way."""

    table: pa.Table  # POST_SCHEMA, then group columns as strings
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class ColumnMap:
    """Which source columns hold the post fields (for tabular formats).

    ``None`` means: look for a usual name (see :data:`psyprofile.io.tabular.CANDIDATES`).
    """

    text: str | None = None
    user: str | None = None
    time: str | None = None
    id: str | None = None
    groups: tuple[str, ...] = ()


@dataclass
class FileInfo:
    """What a reader learned about a file as a whole, reported to the user and stored."""

    format: str
    notes: list[str] = field(default_factory=list)
    # True for one person's own export (X archive, Mastodon outbox, Meta takeout, Bluesky
    # repo): every post is the donor's. Such a reader yields ``user`` from the export's
    # account record, or null when it has none; ingest's ``donor_id`` then names the donor.
    single_person: bool = False
    # Caps the reader applies while reading (see :mod:`psyprofile.io.bounds`).
    limits: Limits = DEFAULT_LIMITS


class Reader(Protocol):
    def __call__(
        self, path: Path, columns: ColumnMap, info: FileInfo, chunk_rows: int
    ) -> Iterator[Chunk]: ...
