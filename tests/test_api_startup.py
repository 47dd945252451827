"""The service builds every model of its profile once, whatever the first requests do.

Real ``psyprofile serve`` subprocesses on loopback, hit by truly concurrent first requests
(threads, each with its own connection, released together by a barrier).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import pytest

from psyprofile.api.keys import create_key
from psyprofile.api.local import LocalServer
from psyprofile.store.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "api"
BUILD = "building the profile's models"
READY = "the profile's models are ready"
TEXTS = ["I love my friends and we had a great day at the beach today",
         "So tired and sad today, work was awful and I feel alone again"] * 10


def _study(path: Path, profile: str | None = None) -> tuple[Path, str]:
    Workspace.create(path)
    shutil.copytree(FIXTURES, path / "api", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    if profile is not None:
        (path / "api" / "config.toml").write_text(profile)
    return path, create_key(path, "startup")[0]


def _concurrent_posts(url: str, token: str, n: int, timeout: float) -> list[httpx.Response]:
    barrier = threading.Barrier(n)
    out: list[httpx.Response | BaseException] = [None] * n  # type: ignore[list-item]

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=timeout,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            barrier.wait()
            try:
                out[i] = c.post("/v1/profile", json={"texts": TEXTS})
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
                out[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return out  # type: ignore[return-value]


def _check_built_once(srv: LocalServer, responses: list[httpx.Response]) -> None:
    assert [r.status_code for r in responses] == [200] * len(responses), responses[0].text
    assert len({r.content for r in responses}) == 1  # the same texts, the same profile
    log = srv.log_path.read_text()
    assert log.count(BUILD) == 1 and log.count(READY) == 1, log[-3000:]


def test_concurrent_first_requests_build_the_models_once(tmp_path):
    study, token = _study(tmp_path / "study")
    with LocalServer(study) as srv:
        _check_built_once(srv, _concurrent_posts(srv.url, token, 4, timeout=120))


def test_each_worker_builds_its_models_once_as_it_starts(tmp_path):
    study, token = _study(tmp_path / "study")
    with LocalServer(study, extra_args=("--workers", "1")) as srv:
        _check_built_once(srv, _concurrent_posts(srv.url, token, 3, timeout=120))
        assert "ready in the worker process" in srv.log_path.read_text()


@pytest.mark.slow
def test_concurrent_first_requests_build_the_static_embedder_once(tmp_path):
    # The zero-shot Big Five on the static embedder: the model issue 17 saw built once per
    # concurrent request (minutes each, so clients timed out).
    study, token = _study(tmp_path / "study", (
        '[profile]\nmin_words = 30\nbig5 = "zeroshot"\nembedder = "minilm-static"\n'
        'vader = false\n[profile.lexica]\nnrc_emot = "nrc_emot.csv"\n'))
    with LocalServer(study) as srv:
        responses = _concurrent_posts(srv.url, token, 2, timeout=900)
        _check_built_once(srv, responses)
        dims = {(s["family"], s["dimension"]) for s in responses[0].json()["scores"]}
        assert any(family == "big5" for family, _ in dims), dims
