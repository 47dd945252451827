"""Worker processes that end when the process that started them is gone.

A spawned pool worker waits on its task queue, and holds that queue's write end itself, so
when its parent dies without shutting the pool down (kill -9, an out-of-memory kill, a
crashed server) the worker never sees end-of-file and waits forever, keeping the parent's
multiprocessing resource tracker alive too. Every pool psyprofile starts passes
:func:`exit_with_parent` (or :func:`lifeline_then` with its own initializer) as its
initializer: a daemon thread in the worker checks once a second whether it has been
re-parented and then ends the worker.

``prctl(PR_SET_PDEATHSIG)`` is not used: it fires when the parent *thread* ends, and pools
start workers from short-lived threads; it is also Linux-only.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

CHECK_SECONDS = 1.0


def exit_with_parent() -> None:
    """Start the watch in this (worker) process; returns at once."""
    # The pid the parent handed over, not os.getppid(): a worker that starts after its parent
    # died would already see its new parent and wait for it instead.
    origin = multiprocessing.parent_process()
    parent = origin.pid if origin is not None else os.getppid()
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(1)  # nothing to clean up: the results have no one to go to

    threading.Thread(target=watch, name="psyprofile-lifeline", daemon=True).start()


def lifeline_then(initializer: Callable[..., Any], *args: Any) -> None:
    """A pool initializer: :func:`exit_with_parent`, then ``initializer(*args)``. Pass it
    as ``initializer=lifeline_then, initargs=(fn, *args)``."""
    exit_with_parent()
    initializer(*args)
