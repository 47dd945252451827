"""API keys: created once, shown once, stored as a SHA-256 hash, revocable.

A key reads ``ppk_<key_id>_<secret>``: ``key_id`` (8 hex characters) finds the row, the
hash of the whole key is compared in constant time. The secret is 32 random bytes, so a
plain hash is enough (there is nothing to brute-force, unlike a password).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from psyprofile.api.store import connect, now
from psyprofile.errors import PsyprofileError

PREFIX = "ppk"


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    created_at: str
    revoked_at: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(served: Path, name: str) -> tuple[str, KeyInfo]:
    """Make a key named ``name`` for the service over ``served``; returns (the key, its record).

    The key itself is not stored anywhere: show it to the user once.
    """
    if not name.strip():
        raise PsyprofileError("give the key a name (--name NAME) so you know whom it belongs to")
    with connect(served) as con:
        while True:
            key_id = secrets.token_hex(4)
            if not con.execute("SELECT 1 FROM api_keys WHERE key_id = ?", [key_id]).fetchall():
                break
        token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        created = now()
        con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                    [key_id, name, _hash(token), created])
    return token, KeyInfo(key_id, name, created, None)


def list_keys(served: Path) -> list[KeyInfo]:
    """Every key of the service, revoked ones included, oldest first."""
    with connect(served) as con:
        rows = con.execute("SELECT key_id, name, created_at, revoked_at FROM api_keys "
                           "ORDER BY created_at, key_id").fetchall()
    return [KeyInfo(*r) for r in rows]


def revoke_key(served: Path, key_id_or_name: str) -> list[KeyInfo]:
    """Revoke the active key(s) with this id or name; returns what was revoked."""
    with connect(served) as con:
        rows = con.execute("SELECT key_id, name, created_at FROM api_keys WHERE revoked_at IS NULL "
                           "AND (key_id = ? OR name = ?)",
                           [key_id_or_name, key_id_or_name]).fetchall()
        if not rows:
            raise PsyprofileError(f"no active key with id or name '{key_id_or_name}'. "
                                  "See them with `psyprofile keys list`.")
        when = now()
        con.executemany("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?",
                        [[when, r[0]] for r in rows])
    return [KeyInfo(r[0], r[1], r[2], when) for r in rows]


def check_key(served: Path, token: str) -> KeyInfo | None:
    """The active key ``token`` is, or None if it is unknown, malformed or revoked."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    with connect(served) as con:
        rows = con.execute("SELECT key_id, name, created_at, revoked_at, sha256 FROM api_keys "
                           "WHERE key_id = ?", [parts[1]]).fetchall()
    if not rows or not hmac.compare_digest(rows[0][4], _hash(token)) or rows[0][3] is not None:
        return None
    return KeyInfo(*rows[0][:4])
