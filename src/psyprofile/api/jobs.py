"""Batch jobs: stored in the service database, run one user at a time by a background thread.

A job's users are stored with their texts when it is submitted; each user's profile is
written as soon as it is computed, so a server that stops (or is killed) mid-job resumes
with the users still missing when it starts again. The texts are deleted once the job is
finished: only the profiles (under pseudonymous ids when serving a study) are kept.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from psyprofile.api.errors import log_exception
from psyprofile.api.store import API_DIR, connect, now
from psyprofile.errors import PsyprofileError

# (user id, texts, ISO timestamps or None)
UserInput = tuple[str, list[str], list[str] | None]
ProfileFn = Callable[[list[str], list[str] | None], dict[str, Any]]

_STATUS_COLS = ("job_id, status, created_at, started_at, finished_at, n_users, n_done, "
                "rejected_rows, error")


def submit_job(served: Path, key_id: str, users: Iterable[UserInput],
               rejected_rows: dict[str, int] | None = None) -> str:
    """Store a new queued job for ``users``; returns its id."""
    job_id = secrets.token_hex(16)
    rows = [[job_id, i, uid, json.dumps(texts), None if ts is None else json.dumps(ts)]
            for i, (uid, texts, ts) in enumerate(users)]
    with connect(served) as con:
        con.execute("INSERT INTO jobs (job_id, key_id, status, created_at, n_users, rejected_rows) "
                    "VALUES (?, ?, 'queued', ?, ?, ?)",
                    [job_id, key_id, now(), len(rows), json.dumps(rejected_rows or {})])
        con.executemany("INSERT INTO job_users (job_id, idx, user_id, texts, timestamps) "
                        "VALUES (?, ?, ?, ?, ?)", rows)
    return job_id


def job_status(served: Path, job_id: str, key_id: str) -> dict[str, Any] | None:
    """The status of job ``job_id`` if it belongs to key ``key_id``, else None."""
    with connect(served) as con:
        rows = con.execute(f"SELECT {_STATUS_COLS} FROM jobs WHERE job_id = ? AND key_id = ?",
                           [job_id, key_id]).fetchall()
    if not rows:
        return None
    r = rows[0]
    return {"id": r[0], "status": r[1], "created_at": r[2], "started_at": r[3],
            "finished_at": r[4], "n_users": r[5], "n_done": r[6],
            "progress": r[6] / r[5] if r[5] else 1.0, "rejected_rows": json.loads(r[7]),
            "error": r[8]}


def job_results(served: Path, job_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
    """Users ``offset .. offset+limit`` of a job with their profile or error, in input order."""
    with connect(served) as con:
        rows = con.execute("SELECT user_id, result, error FROM job_users WHERE job_id = ? "
                           "ORDER BY idx LIMIT ? OFFSET ?", [job_id, limit, offset]).fetchall()
    return [{"id": u, "profile": None if r is None else json.loads(r), "error": e}
            for u, r, e in rows]


def lock_runner(served: Path) -> IO[bytes]:
    """Claim the job queue of ``served`` for this process (until the returned file is closed).

    A starting runner puts 'running' jobs back in the queue, which is only right when no
    other server is working on them: a second server over the same folder is refused.
    """
    path = Path(served) / API_DIR / "jobs.lock"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fh = open(path, "wb")  # noqa: SIM115 - held open for the server's lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise PsyprofileError(
            f"{served}: another `psyprofile serve` is already running jobs for this folder. "
            "Stop it, or start this one with --no-jobs.") from None
    return fh


def requeue_interrupted(served: Path) -> int:
    """Put jobs left 'running' by a server that stopped back in the queue; returns how many."""
    with connect(served) as con:
        return con.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'").rowcount


def _next_job(served: Path) -> str | None:
    with connect(served) as con:
        rows = con.execute("SELECT job_id FROM jobs WHERE status = 'queued' "
                           "ORDER BY created_at, rowid LIMIT 1").fetchall()
        if not rows:
            return None
        con.execute("UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?) "
                    "WHERE job_id = ?", [now(), rows[0][0]])
    return rows[0][0]


def _pending(served: Path, job_id: str) -> list[tuple[int, str, str | None]]:
    with connect(served) as con:
        return con.execute("SELECT idx, texts, timestamps FROM job_users WHERE job_id = ? "
                           "AND result IS NULL AND error IS NULL ORDER BY idx", [job_id]).fetchall()


def _finish_user(served: Path, job_id: str, idx: int, result: dict | None,
                 error: str | None) -> None:
    with connect(served) as con:
        con.execute("UPDATE job_users SET result = ?, error = ? WHERE job_id = ? AND idx = ?",
                    [None if result is None else json.dumps(result), error, job_id, idx])
        con.execute("UPDATE jobs SET n_done = n_done + 1 WHERE job_id = ?", [job_id])


def _finish_job(served: Path, job_id: str, error: str | None) -> None:
    with connect(served) as con:
        con.execute("UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE job_id = ?",
                    ["failed" if error else "done", now(), error, job_id])
        con.execute("UPDATE job_users SET texts = NULL, timestamps = NULL WHERE job_id = ?",
                    [job_id])


class JobRunner:
    """A background thread that works through queued jobs, oldest first.

    ``profile(texts, timestamps)`` computes one user's profile. A user whose input
    psyprofile rejects (a :class:`PsyprofileError`) gets that message as its error and
    the job goes on; any other exception fails the job (logged without its message).
    """

    def __init__(self, served: Path, profile: ProfileFn, poll_seconds: float = 2.0) -> None:
        self.served, self.profile, self.poll_seconds = served, profile, poll_seconds
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        requeue_interrupted(self.served)
        self._thread = threading.Thread(target=self._loop, name="psyprofile-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tell the runner a job was queued."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current user (its job resumes at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = _next_job(self.served)
            except Exception as exc:  # noqa: BLE001 - e.g. the database busy: try again later
                log_exception(exc, "the job queue")
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        try:
            for idx, texts, ts in _pending(self.served, job_id):
                if self._stop.is_set():
                    return
                try:
                    result, error = self.profile(json.loads(texts), ts and json.loads(ts)), None
                except PsyprofileError as exc:
                    result, error = None, str(exc)
                _finish_user(self.served, job_id, idx, result, error)
        except Exception as exc:  # noqa: BLE001 - a failed job must be recorded, not kill the thread
            log_exception(exc, f"job {job_id}")
            _finish_job(self.served, job_id, f"unexpected {type(exc).__name__}; see the server log")
            return
        _finish_job(self.served, job_id, None)
