"""Build a cached artefact once per machine: under a file lock, written atomically.

Several processes (CLI runs, API workers, test sessions) may ask for the same derived model
file or folder at the same moment; the first takes the lock and builds, the others wait on the
lock and then find the finished artefact. A killed build leaves only a temporary file or
folder behind, never a half-written artefact under the final name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

LOCK_TIMEOUT_S = 3600  # a first build takes minutes on 2 loaded cores; never wait forever


def build_once(path: Path, build: Callable[[Path], None]) -> Path:
    """``path``, built by ``build(tmp)`` if missing; ``build`` writes the artefact (a file, or
    a folder it creates) to ``tmp`` (same folder), which is renamed to ``path`` only once
    complete."""
    from filelock import FileLock

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
        if path.exists():  # built by whoever held the lock before us
            return path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            build(tmp)
            os.replace(tmp, path)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink(missing_ok=True)
    return path
