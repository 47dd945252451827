"""A real ``psyprofile serve`` in a subprocess on a free loopback port (for tests and benches)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """``psyprofile serve FOLDER`` on 127.0.0.1; use as a context manager or start/stop.

    The server's output goes to ``FOLDER/api/server.log`` (appended), so a test can show
    it when something fails and check that no text was logged.
    """

    def __init__(self, folder: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
                 startup_seconds: float = 120.0) -> None:
        self.folder, self.port = Path(folder), port or free_port()
        self.extra_args, self.startup_seconds = extra_args, startup_seconds
        self.proc: subprocess.Popen | None = None
        self.log_path = self.folder / "api" / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        """Start the server and wait until ``/healthz`` answers; raises if it does not."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "psyprofile.cli.main", "serve", str(self.folder),
               "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.proc.returncode}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1.0) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop(kill=True)
        raise RuntimeError(f"the server did not answer /healthz in {self.startup_seconds:.0f} s:\n"
                           + self.log_path.read_text()[-3000:])

    def stop(self, kill: bool = False, timeout: float = 30.0) -> None:
        """Stop the server: SIGTERM (graceful) or, with ``kill``, SIGKILL (a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
