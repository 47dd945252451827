"""Keyed pseudonymisation of user and message ids.

Ids are replaced on ingest by HMAC-SHA256(study key, namespace + raw id), truncated to
128 bits (32 hex characters). Without the key the mapping cannot be recomputed, so a
leaked workspace table does not reveal who the users are; with the key, the same raw
id always gives the same pseudonym, so outcomes and folds loaded later join.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from psyprofile.errors import WorkspaceError

KEY_BYTES = 32
DIGEST_HEX = 32


def new_key() -> bytes:
    """A fresh random study key (32 bytes)."""
    return secrets.token_bytes(KEY_BYTES)


def write_key(path: Path, key: bytes) -> None:
    """Write ``key`` as hex to ``path``, readable and writable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    os.chmod(path, 0o600)


def read_key(path: Path) -> bytes:
    """Read a study key written by :func:`write_key`."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise WorkspaceError(
            f"{path}: the study key is missing. Without it new data cannot be linked to the "
            "pseudonymous ids already stored; restore the file from your backup."
        ) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise WorkspaceError(f"{path}: the study key is not a hex string; restore it from your backup.") from None
    if len(key) < 16:
        raise WorkspaceError(f"{path}: the study key is too short ({len(key)} bytes, need >= 16).")
    return key


class Pseudonymizer:
    """Maps raw ids to pseudonyms with a keyed hash; caches repeated ids.

    ``namespace`` keeps user and message pseudonyms apart, so the same raw string used as
    a user id and as a message id does not give the same pseudonym.
    """

    def __init__(self, key: bytes, namespace: str = "user") -> None:
        self._mac = hmac.new(key, namespace.encode() + b"\x00", hashlib.sha256)
        self._cache: dict[str, str] = {}

    def __call__(self, raw_id: str) -> str:
        out = self._cache.get(raw_id)
        if out is None:
            mac = self._mac.copy()
            mac.update(raw_id.encode("utf-8"))
            out = mac.hexdigest()[:DIGEST_HEX]
            if len(self._cache) < 2_000_000:
                self._cache[raw_id] = out
        return out

    def many(self, raw_ids: list[str | None]) -> list[str | None]:
        """Pseudonymise a list of ids; ``None`` stays ``None``."""
        return [None if r is None else self(r) for r in raw_ids]
