"""``--engine``, ``--scheduler``, ``--workers``: where a command runs its heavy stage.

The decorator replaces the three options by one ``engine`` argument, an :class:`EngineChoice`
whose :meth:`EngineChoice.open` gives the engine to pass to the library (``None`` for the
default local engine, which lets the library run small inputs in-process).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class EngineChoice:
    """The engine options of one command line."""

    name: str = "local"
    scheduler: str | None = None
    workers: int | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[Any]:
        """The engine (closed on exit), or ``None`` for the local default."""
        from psyprofile.engine import get_engine

        if self.name == "local" and self.workers is None and not self.scheduler:
            yield None
            return
        with get_engine(self.name, self.scheduler, self.workers) as engine:
            yield engine


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--engine local|dask``, ``--scheduler`` and ``--workers`` to a click command; it
    receives them as ``engine: EngineChoice``."""

    @click.option("--engine", "engine_name", type=click.Choice(["local", "dask"]), default="local",
                  show_default=True,
                  help="local: processes on this machine; dask: a Dask cluster (--scheduler, or a "
                       "local cluster of worker processes when no scheduler is given).")
    @click.option("--scheduler", metavar="tcp://HOST:PORT",
                  help="Address of a running Dask scheduler (implies --engine dask).")
    @click.option("--workers", type=click.IntRange(min=0),
                  help="Worker processes (local engine, or the local Dask cluster); default: "
                       "the CPU count.")
    @functools.wraps(command)
    def wrapper(*args: Any, engine_name: str, scheduler: str | None, workers: int | None,
                **kwargs: Any) -> Any:
        name = "dask" if scheduler else engine_name
        return command(*args, engine=EngineChoice(name, scheduler, workers), **kwargs)

    return wrapper
