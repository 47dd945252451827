"""Errors a researcher can act on.

Every error psyprofile raises on purpose is a :class:`PsyprofileError`: the CLI prints
its message (which names the file, row and fix) without a traceback.
"""

from __future__ import annotations


class PsyprofileError(Exception):
    """An error whose message tells the user what went wrong and how to fix it."""


class InputError(PsyprofileError):
    """Bad input data: a file, column, row or value that cannot be used."""


class WorkspaceError(PsyprofileError):
    """A study workspace that is missing, already exists, or is from another version."""
