"""The local engine: a pool of spawned worker processes on this machine."""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm.auto import tqdm

from psyprofile.engine.base import (
    MAX_ATTEMPTS,
    Engine,
    PartitionFailed,
    fail_message,
    fill_window,
    usable_cpus,
)
from psyprofile.engine.lifeline import exit_with_parent


class LocalEngine(Engine):
    """``workers`` spawned processes (default: the CPU count); 0 or 1 runs in this process."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else usable_cpus())
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        # spawn, not fork: callers hold DuckDB's threads, which a fork would copy mid-flight
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=exit_with_parent)
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str,
            progress: bool = True, total: int | None = None) -> Iterator[Any]:
        bar = tqdm(total=total, desc=desc, unit="part", disable=not progress)
        try:
            if self.workers <= 1:
                for item in items:
                    yield fn(item)
                    bar.update(1)
                return
            yield from self._pooled(fn, items, desc, bar)
        finally:
            bar.close()

    def _pooled(self, fn: Callable[[Any], Any], items: Iterable[Any], desc: str,
                bar: tqdm) -> Iterator[Any]:
        pool = self._pool or self._new_pool()
        # (index, item, attempts, future): the item is kept until its result is yielded, so a
        # partition lost with a broken pool can be submitted again
        pending: collections.deque[list] = collections.deque()
        source = enumerate(items)
        more = True
        while pending or more:
            if more:
                more = fill_window(pending, source, 2 * self.workers,
                                   lambda i, item, pool=pool: [i, item, 1, _submit(pool, fn, item)])
            if not pending:
                break
            head = pending[0]
            try:
                result = head[3].result()
            except BrokenProcessPool:
                # A worker died: the whole pool is unusable. Every unfinished partition runs
                # again on a fresh pool; finished ones keep their results.
                pool = self._new_pool()
                for entry in pending:
                    fut: Future = entry[3]
                    if fut.done() and not isinstance(fut.exception(), BrokenProcessPool):
                        continue
                    if entry[2] >= MAX_ATTEMPTS:
                        raise PartitionFailed(
                            fail_message(desc, entry[0], "worker process died")) from None
                    entry[2] += 1
                    entry[3] = _submit(pool, fn, entry[1])
                continue
            pending.popleft()
            bar.update(1)
            yield result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _submit(pool: ProcessPoolExecutor, fn: Callable[[Any], Any], item: Any) -> Future:
    """``pool.submit``, or a failed future if the pool broke since the last check (handled
    like any other partition lost with the pool)."""
    try:
        return pool.submit(fn, item)
    except BrokenProcessPool as exc:
        fut: Future = Future()
        fut.set_exception(exc)
        return fut
