"""The engine interface shared by the local and the Dask engine."""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from psyprofile.errors import PsyprofileError

MAX_ATTEMPTS = 3  # runs of one partition before giving up: a partition that kills 3 workers
# in a row is too big for a worker's memory, and retrying again would only repeat that


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class PartitionFailed(PsyprofileError):
    """A partition's worker died :data:`MAX_ATTEMPTS` times."""


class Engine:
    """Runs ``fn`` over partitions; subclasses implement :meth:`map` and :meth:`close`."""

    name = "engine"
    workers = 1  # partitions run at the same time

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str,
            progress: bool = True, total: int | None = None) -> Iterator[Any]:
        """``fn(item)`` for each item, yielded in input order.

        ``fn`` must be a picklable top-level function and each item picklable; items are
        drawn lazily, at most about ``2 * workers`` ahead of the results consumed. A partition
        whose worker dies is retried (up to :data:`MAX_ATTEMPTS` runs) and yields once; an
        exception raised by ``fn`` itself propagates at once. ``desc``/``total`` label the
        progress bar (one tick per partition; ``progress=False`` hides it).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the workers (and a cluster this engine started)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def open_engine(engine: Engine | None, workers: int | None = None) -> Iterator[Engine]:
    """``engine`` itself (left open: its owner closes it), or a new local engine of
    ``workers`` processes closed on exit."""
    if engine is not None:
        yield engine
        return
    from psyprofile.engine.local import LocalEngine

    with LocalEngine(workers) as own:
        yield own


def fill_window(pending: collections.deque, source: Iterator[tuple[int, Any]], limit: int,
                make: Callable[[int, Any], Any]) -> bool:
    """Append ``make(index, item)`` from ``source`` until ``pending`` holds ``limit`` entries,
    so only a bounded number of partitions is in flight; False once ``source`` is used up."""
    while len(pending) < limit:
        nxt = next(source, None)
        if nxt is None:
            return False
        pending.append(make(*nxt))
    return True


def fail_message(desc: str, index: int, why: str) -> str:
    return (f"{desc}: partition {index + 1} failed {MAX_ATTEMPTS} times ({why}); its worker "
            "probably ran out of memory. Use smaller partitions (--partition-rows for ingest, "
            "--partition-chars for features, --partition-users for predict) or give workers "
            "more memory.")
