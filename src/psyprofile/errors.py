"""Errors a researcher can act on, and the one helper that makes values fit to print in them.

Every error psyprofile raises on purpose is a :class:`PsyprofileError`: the CLI prints
its message (which names the file, row and fix) without a traceback.

Messages never quote what a file holds (a line, a user id, a handle): they go to terminals,
logs and API clients. Readers and the ingest pipeline (helpers C, D, G) build messages with:

* :func:`describe` for a raw value from a file: says what it looks like, never what it is
  (``'a 12-character string'``, ``'a number'``, ``'a JSON object'``);
* :func:`printable` for a name the researcher chose (a column header, an option value, a
  source label): kept, but control bytes and other invisible characters are escaped and the
  text is cut, so a hostile header cannot rewrite the terminal or smuggle a whole line.
"""

from __future__ import annotations

import unicodedata


class PsyprofileError(Exception):
    """An error whose message tells the user what went wrong and how to fix it."""


class InputError(PsyprofileError):
    """Bad input data: a file, column, row or value that cannot be used."""


class WorkspaceError(PsyprofileError):
    """A study workspace that is missing, already exists, or is from another version."""


def printable(text: object, limit: int = 60) -> str:
    """``text`` (a researcher-chosen name) fit for an error message: characters of Unicode
    categories C* (controls, format, unassigned, private use) and line/paragraph separators
    become ``\\xNN``/``\\uNNNN`` escapes, and it is cut to ``limit`` characters (with ``...``)."""
    s = str(text)
    out = []
    for ch in s[: limit + 1]:
        if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    shown = "".join(out)
    return shown[:limit] + "..." if len(s) > limit or len(shown) > limit else shown


def describe(value: object) -> str:
    """What a raw value from a file looks like, without any of its content."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str | bytes):
        kind = "string" if isinstance(value, str) else "byte string"
        return f"a {len(value):,}-character {kind}" if isinstance(value, str) else f"a {len(value):,}-byte {kind}"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list | tuple):
        return f"a list of {len(value):,} items"
    return f"a value of type {type(value).__name__}"
