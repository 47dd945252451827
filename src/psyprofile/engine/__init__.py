"""Executors for the heavy stages: local processes or a Dask cluster, with the same results.

Every engine has one operation, :meth:`Engine.map`: apply a picklable top-level function to
partitions and yield the results **in input order**, with a bounded number of partitions in
flight (so memory stays bounded however many there are) and a progress bar per partition. A
partition whose worker process dies (killed, out of memory) is run again on another worker;
the caller sees each result exactly once, so a driver that writes results as they arrive
neither loses nor duplicates rows.

``get_engine('local', workers=N)`` runs on a pool of N spawned processes (N <= 1: in this
process); ``get_engine('dask')`` starts a :class:`distributed.LocalCluster` of worker
processes, ``get_engine('dask', scheduler='tcp://HOST:PORT')`` joins an existing cluster.
"""

from __future__ import annotations

from psyprofile.engine.base import MAX_ATTEMPTS, Engine, PartitionFailed, open_engine, usable_cpus
from psyprofile.engine.local import LocalEngine

ENGINES = ("local", "dask")


def get_engine(name: str = "local", scheduler: str | None = None,
               workers: int | None = None) -> Engine:
    """An engine by name: ``'local'`` (a process pool of ``workers``, default the CPU count)
    or ``'dask'`` (the cluster at ``scheduler``, or a new LocalCluster of ``workers``
    processes). Close it when done (it is a context manager)."""
    from psyprofile.errors import PsyprofileError

    if name == "local":
        if scheduler:
            raise PsyprofileError("--scheduler needs --engine dask (the local engine has none).")
        return LocalEngine(workers)
    if name == "dask":
        from psyprofile.engine.dask_engine import DaskEngine

        return DaskEngine(scheduler, workers)
    raise PsyprofileError(f"unknown engine '{name}'; choose one of: {', '.join(ENGINES)}.")


__all__ = ["ENGINES", "MAX_ATTEMPTS", "Engine", "LocalEngine", "PartitionFailed", "get_engine",
           "open_engine", "usable_cpus"]
