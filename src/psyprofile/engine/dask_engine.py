"""The Dask engine: partitions run as tasks on a ``distributed`` cluster.

Each partition is one task holding its data (partitions are sized to a few MB, so shipping
them through the scheduler costs less than a round trip through shared storage, and the
scheduler can re-run a task whose worker died without any data having been lost with it).
Dask itself re-runs a task whose worker dies; after ``MAX_ATTEMPTS`` deaths it gives up
(``KilledWorker``), which we report as :class:`PartitionFailed`.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable, Iterable, Iterator
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
from psyprofile.errors import PsyprofileError


class DaskEngine(Engine):
    """A client of the cluster at ``scheduler`` (``tcp://HOST:PORT``), or of a LocalCluster of
    ``workers`` single-threaded processes (default: the CPU count) started here."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        from psyprofile.extras import require

        dask = require("dask", "dask")
        distributed = require("distributed", "dask")
        Client, LocalCluster = distributed.Client, distributed.LocalCluster

        # The scheduler re-runs a task whose worker died; MAX_ATTEMPTS - 1 deaths are allowed.
        dask.config.set({"distributed.scheduler.allowed-failures": MAX_ATTEMPTS - 1})
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout="20s")
            else:
                n = workers if workers is not None else usable_cpus()
                self._cluster = LocalCluster(n_workers=max(1, n), processes=True,
                                             threads_per_worker=1, dashboard_address=":0")
                self._client = Client(self._cluster)
        except OSError as exc:
            raise PsyprofileError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}). Check the address "
                "(tcp://HOST:PORT, as printed by `dask scheduler`) and that it is running."
            ) from None
        self.workers = max(1, sum(self._client.nthreads().values()))

    @property
    def client(self):
        """The ``distributed.Client`` (for callers that need more than :meth:`map`)."""
        return self._client

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str,
            progress: bool = True, total: int | None = None) -> Iterator[Any]:
        from distributed import KilledWorker

        run = uuid.uuid4().hex[:8]
        bar = tqdm(total=total, desc=desc, unit="part", disable=not progress)
        pending: collections.deque = collections.deque()
        source = enumerate(items)
        more = True

        def submit(i: int, item: Any) -> tuple[int, Any]:
            # pure=False: two equal partitions are still two tasks
            return i, self._client.submit(fn, item, key=f"{desc}-{run}-{i}", pure=False)

        try:
            while pending or more:
                if more:
                    more = fill_window(pending, source, 2 * self.workers, submit)
                if not pending:
                    break
                i, fut = pending.popleft()
                try:
                    result = fut.result()
                except KilledWorker:
                    raise PartitionFailed(fail_message(desc, i, "worker process died")) from None
                fut.release()
                bar.update(1)
                yield result
        finally:
            for _, fut in pending:
                fut.cancel()
            bar.close()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
