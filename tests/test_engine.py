"""Engines: results in input order on the local pool and on a real Dask LocalCluster of 2
worker processes, also when a worker dies mid-run (the pipeline stages are checked in
``test_engine_pipeline.py``, which shares the fixtures and ``KillOnce`` defined here)."""

from __future__ import annotations

import functools
import os
import sys
import uuid
from pathlib import Path

import cloudpickle
import pytest

from psyprofile.engine import MAX_ATTEMPTS, Engine, LocalEngine, PartitionFailed, get_engine
from psyprofile.errors import PsyprofileError

# Dask workers cannot import this test module: ship its helper functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x


def _die_at(calls: str, at: int, fn, item):
    """``fn(item)``, except that call number ``at`` of a run kills its own worker process (once:
    the partition it was running must then be run again elsewhere)."""
    Path(calls, uuid.uuid4().hex).touch()
    if len(os.listdir(calls)) >= at:
        try:
            os.close(os.open(os.path.join(calls, "killed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return fn(item)
        os._exit(1)
    return fn(item)


def _always_die(x: int) -> int:
    os._exit(1)


class KillOnce(Engine):
    """Wraps an engine so that one worker dies during each map, running partition ``at``."""

    def __init__(self, inner: Engine, scratch: Path, at: int = 2):
        self.inner, self.scratch, self.at = inner, scratch, at
        self.name, self.workers = inner.name, inner.workers
        self.kills = 0

    def map(self, fn, items, **kw):
        calls = self.scratch / uuid.uuid4().hex
        calls.mkdir(parents=True)
        yield from self.inner.map(functools.partial(_die_at, str(calls), self.at, fn), items, **kw)
        self.kills += (calls / "killed").exists()


@pytest.fixture(scope="session")
def cluster():
    """A real LocalCluster of 2 worker processes, shared with ``test_engine_pipeline.py``."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="session")
def dask_engine(cluster):
    with get_engine("dask", scheduler=cluster.scheduler_address) as e:
        yield e


@pytest.fixture(scope="module")
def local_engine():
    with LocalEngine(2) as e:
        yield e


# ---------------------------------------------------------------------------------------------
# the engines themselves


@pytest.mark.parametrize("which", ["local", "dask"])
def test_map_keeps_input_order_and_survives_a_killed_worker(which, request, tmp_path):
    engine = request.getfixturevalue(f"{which}_engine")
    assert engine.workers == 2
    want = [x * x for x in range(20)]
    assert list(engine.map(_square, range(20), desc="sq", progress=False)) == want
    killer = KillOnce(engine, tmp_path)
    assert list(killer.map(_square, iter(range(20)), desc="sq", progress=False)) == want
    assert killer.kills == 1


@pytest.mark.parametrize("which", ["local", "dask"])
def test_an_error_of_the_function_is_raised_not_retried(which, request):
    engine = request.getfixturevalue(f"{which}_engine")
    with pytest.raises(ValueError, match="three is bad"):
        list(engine.map(_fail_on_three, range(6), desc="f", progress=False))


def test_a_partition_that_keeps_killing_workers_fails_with_a_fix():
    with LocalEngine(2) as engine, pytest.raises(PartitionFailed) as err:
        list(engine.map(_always_die, [1], desc="features", progress=False))
    assert str(err.value) == (
        f"features: partition 1 failed {MAX_ATTEMPTS} times (worker process died); its worker "
        "probably ran out of memory. Use smaller partitions (--partition-rows for ingest, "
        "--partition-chars for features, --partition-users for predict) or give workers more "
        "memory.")


def test_in_process_engine_and_bad_names():
    assert list(LocalEngine(0).map(_square, [3, 4], desc="sq", progress=False)) == [9, 16]
    with pytest.raises(PsyprofileError, match="unknown engine 'spark'; choose one of: local, dask"):
        get_engine("spark")
    with pytest.raises(PsyprofileError, match="--scheduler needs --engine dask"):
        get_engine("local", scheduler="tcp://127.0.0.1:8786")


def test_engine_options_of_the_command_line():
    import click
    from click.testing import CliRunner

    from psyprofile.cli.engine_options import EngineChoice, engine_options

    @click.command()
    @engine_options
    def cmd(engine: EngineChoice) -> None:
        click.echo(repr(engine))
        if engine.name == "local":
            with engine.open() as eng:
                click.echo(f"{type(eng).__name__} {getattr(eng, 'workers', '-')}")

    run = CliRunner().invoke
    assert run(cmd, []).output == (
        "EngineChoice(name='local', scheduler=None, workers=None)\nNoneType -\n")
    assert run(cmd, ["--workers", "0"]).output.endswith("LocalEngine 1\n")
    assert run(cmd, ["--scheduler", "tcp://h:1"]).output == (
        "EngineChoice(name='dask', scheduler='tcp://h:1', workers=None)\n")
    res = run(cmd, ["--engine", "spark"])
    assert res.exit_code == 2 and "'spark' is not one of 'local', 'dask'" in res.output


def test_pool_workers_end_when_their_parent_is_killed(tmp_path):
    # A parent killed with -9 cannot shut its pool down; its workers must not wait forever
    import signal
    import subprocess
    import sys
    import time

    import psutil

    script = tmp_path / "parent.py"
    script.write_text(
        "import time\n"
        "from psyprofile.engine.local import LocalEngine\n"
        "if __name__ == '__main__':\n"
        "    eng = LocalEngine(2)\n"
        "    list(eng.map(abs, range(4), desc='warm', progress=False))\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= 2  # the pool's workers (and the resource tracker)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(w.is_running() and w.status() != "zombie"
                                              for w in workers):
        time.sleep(0.2)
    alive = [w.pid for w in workers if w.is_running() and w.status() != "zombie"]
    for pid in alive:  # do not leave them behind even when the test fails
        psutil.Process(pid).kill()
    assert alive == []
