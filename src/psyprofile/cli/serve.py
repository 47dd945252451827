"""``psyprofile serve`` (the REST service) and ``psyprofile keys`` (its API keys)."""

from __future__ import annotations

import json
from pathlib import Path

import click

served_arg = click.argument("served", metavar="STUDY_OR_MODELS_DIR",
                            type=click.Path(file_okay=False, path_type=Path))


def _log_config() -> dict:
    """uvicorn's logging with an access line of method, path and status only (never bodies)."""
    from uvicorn.config import LOGGING_CONFIG

    conf = json.loads(json.dumps(LOGGING_CONFIG))
    conf["formatters"]["access"]["fmt"] = (
        '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s')
    conf["loggers"]["psyprofile.api"] = {"handlers": ["default"], "level": "INFO",
                                         "propagate": False}
    return conf


@click.command()
@click.argument("served", metavar="STUDY_OR_MODELS_DIR", required=False,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--jobs/--no-jobs", "run_jobs", default=True, show_default=True,
              help="Work through queued jobs (--no-jobs: accept jobs, leave them queued).")
@click.option("--workers", type=int, default=None,
              help="Worker processes for profiles (0: in the server process). Profiling is "
                   "CPU-bound and holds the GIL, so the default is one per core this process "
                   "may use.")
@click.option("--print-openapi", is_flag=True,
              help="Print the OpenAPI schema as JSON and exit (regenerates docs/openapi.json).")
def serve(served: Path | None, host: str, port: int, run_jobs: bool, workers: int | None,
          print_openapi: bool) -> None:
    """Serve profiles and batch jobs over HTTP (FastAPI) for a study or a folder of models.

    Clients need an API key (`psyprofile keys create`). Settings: STUDY/api/config.toml.
    """
    from psyprofile.extras import require

    for module in ("fastapi", "uvicorn", "python_multipart"):
        require(module, "api")
    from psyprofile.api.app import create_app
    from psyprofile.api.service import Service

    if print_openapi:
        from psyprofile.api.openapi import schema_json

        click.echo(schema_json())
        return
    if served is None:
        raise click.UsageError("give the study or models folder to serve.")
    import uvicorn

    from psyprofile.api.jobs import lock_runner

    service = Service.open(served)
    lock = lock_runner(served) if run_jobs else None  # noqa: F841 - held while serving
    if workers is None:
        from psyprofile.engine import usable_cpus

        workers = usable_cpus()
    app = create_app(service, run_jobs=run_jobs, workers=workers)
    click.echo(f"serving {served} on http://{host}:{port} (docs at /docs)", err=True)
    uvicorn.run(app, host=host, port=port, log_config=_log_config(), server_header=False)


@click.group()
def keys() -> None:
    """API keys of the service over a study or folder of models (stored hashed)."""


@keys.command("create")
@served_arg
@click.option("--name", required=True, help="Whom or what the key is for.")
def keys_create(served: Path, name: str) -> None:
    """Create a key and print it (once: only its hash is stored)."""
    from psyprofile.api.keys import create_key

    _require(served)
    token, info = create_key(served, name)
    click.echo(token)
    click.echo(f"created key {info.key_id} '{info.name}'; store it now, it cannot be shown again",
               err=True)


@keys.command("list")
@served_arg
def keys_list(served: Path) -> None:
    """List keys: id, name, created, revoked."""
    from psyprofile.api.keys import list_keys

    _require(served)
    for k in list_keys(served):
        click.echo(f"{k.key_id}  {k.name}  created {k.created_at}"
                   + (f"  REVOKED {k.revoked_at}" if k.revoked_at else ""))


@keys.command("revoke")
@served_arg
@click.argument("key")
def keys_revoke(served: Path, key: str) -> None:
    """Revoke the key with id (or name) KEY."""
    from psyprofile.api.keys import revoke_key

    _require(served)
    for k in revoke_key(served, key):
        click.echo(f"revoked key {k.key_id} '{k.name}'")


def _require(served: Path) -> None:
    from psyprofile.errors import PsyprofileError

    if not served.is_dir():
        raise PsyprofileError(f"{served}: no such folder. Give the study or models folder "
                              "that `psyprofile serve` serves.")
