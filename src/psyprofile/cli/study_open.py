"""Opening the study for a command: read-only for commands that only read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from psyprofile.store.workspace import Workspace


def open_study(study: Path, read_only: bool = False) -> Workspace:
    """The study ``study``, with what opening it had to say on stderr.

    ``read_only=True`` opens it so that other processes may read it meanwhile. A study from
    an older psyprofile is first upgraded by one read-write open, as any command would do.
    """
    from psyprofile.store.workspace import SchemaOutOfDate, Workspace

    notices: list[str] = []
    try:
        ws = Workspace.open(study, read_only=read_only)
    except SchemaOutOfDate:
        notices = Workspace.open(study).notices
        ws = Workspace.open(study, read_only=True)
    for notice in notices + ws.notices:
        click.secho(f"note: {notice}", fg="yellow", err=True)
    return ws


def open_optional(study: Path | None, read_only: bool = True) -> Workspace | None:
    """:func:`open_study` for commands whose study is optional: None without one."""
    return open_study(study, read_only=read_only) if study else None
