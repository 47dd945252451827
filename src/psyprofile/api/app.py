"""The FastAPI application: routes over :class:`psyprofile.api.service.Service`.

Build it with :func:`create_app`; ``psyprofile serve`` runs it under uvicorn.
"""

import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from psyprofile import __version__
from psyprofile.api import jobs
from psyprofile.api.errors import ApiError, install_handlers
from psyprofile.api.keys import KeyInfo, check_key
from psyprofile.api.limits import GuardMiddleware
from psyprofile.api.schemas import (
    ErrorBody,
    Health,
    JobRequest,
    JobResult,
    JobStatus,
    ModelList,
    Profile,
    ProfileRequest,
)
from psyprofile.api.service import Service
from psyprofile.api.store import API_DIR
from psyprofile.errors import PsyprofileError, printable
from psyprofile.io.base import ColumnMap
from psyprofile.io.formats import FORMATS

MAX_RESULT_PAGE = 1000
_bearer = HTTPBearer(auto_error=False, description="An API key from `psyprofile keys create`.")

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody, "description": d} for s, d in (
        (401, "No API key given."), (403, "The API key is unknown or revoked."),
        (413, "The request body is too large."), (422, "The request is not valid."),
        (500, "Unexpected error."))}

_UPLOAD_FORM = {
    "type": "object", "required": ["file"], "additionalProperties": False,
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "Posts, one per row or record: csv, tsv, jsonl, parquet, ..."},
        "format": {"type": "string", "enum": ["auto", *FORMATS], "default": "auto"},
        "user_col": {"type": "string", "description": "Column of the user id (as --user-col)."},
        "text_col": {"type": "string", "description": "Column of the text (as --text-col)."},
        "time_col": {"type": "string", "description": "Column of the time (as --time-col)."},
    },
}


def create_app(service: Service, *, run_jobs: bool = True, workers: int = 0) -> FastAPI:
    """The app serving ``service``; with ``run_jobs`` it also works through queued jobs.

    ``workers`` > 0 computes profiles in that many worker processes (see
    :meth:`Service.start_workers`).
    """
    runner = jobs.JobRunner(service.folder, service.profile)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        service.start_workers(workers)
        # Build the profile's models now, in the background, so /healthz answers at once and
        # the first requests wait for this one build instead of each starting their own.
        service.prepare_in_background()
        if run_jobs:
            runner.start()
        yield
        if run_jobs:
            await run_in_threadpool(runner.stop)
        service.stop_workers()

    app = FastAPI(
        title="psyprofile", version=__version__, lifespan=lifespan,
        description="Psychological profiles from language: one person's texts, or batch jobs. "
                    "Scores are noisy estimates for research in aggregate, not for decisions "
                    "about individuals.",
    )
    install_handlers(app)

    def limit_for(path: str) -> int:
        lim = service.limits
        return lim.max_upload_bytes if path.rstrip("/") == "/v1/jobs" else lim.max_body_bytes

    app.add_middleware(GuardMiddleware, limit_for=limit_for)

    def api_key(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> KeyInfo:
        if cred is None or not cred.credentials:
            raise ApiError(401, "missing_api_key",
                           "send an API key as 'Authorization: Bearer <key>' (create one with "
                           "`psyprofile keys create`)", headers={"WWW-Authenticate": "Bearer"})
        key = check_key(service.folder, cred.credentials)
        if key is None:
            raise ApiError(403, "invalid_api_key", "this API key is unknown or has been revoked")
        return key

    Key = Annotated[KeyInfo, Depends(api_key)]

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness check; needs no key."""
        return {"status": "ok", "version": __version__}

    @app.head("/healthz", response_model=Health, tags=["service"])
    def healthz_head() -> dict[str, str]:
        """Liveness check (headers only, as load balancers send it); needs no key."""
        return healthz()

    @app.post("/v1/profile", response_model=Profile, responses=_ERRORS, tags=["profiles"])
    def profile(body: ProfileRequest, _key: Key) -> dict[str, Any]:
        """The profile of one person from their texts, with intervals and warnings."""
        return service.profile(body.text_list(), body.timestamp_strings())

    @app.post("/v1/jobs", response_model=JobStatus, status_code=202, tags=["jobs"],
              responses={**_ERRORS,
                         415: {"model": ErrorBody, "description": "Neither JSON nor a form."}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
                  "multipart/form-data": {"schema": _UPLOAD_FORM}}}})
    async def submit(request: Request, key: Key) -> dict[str, Any]:
        """Queue a batch of users: a JSON body, or a file upload (multipart) of posts."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            users, rejected = await _json_users(request), {}
        elif kind == "multipart/form-data":
            users, rejected = await _upload_users(request, service.folder)
        else:
            raise ApiError(415, "unsupported_media_type",
                           "send the users as application/json or a file as multipart/form-data")
        pseudo = service.pseudonymizer()
        if pseudo is not None:
            users = [(pseudo(u), t, s) for u, t, s in users]
        job_id = await run_in_threadpool(jobs.submit_job, service.folder, key.key_id, users,
                                         rejected)
        runner.wake()
        return jobs.job_status(service.folder, job_id, key.key_id)

    def _status(job_id: str, key: KeyInfo) -> dict[str, Any]:
        st = jobs.job_status(service.folder, job_id, key.key_id)
        if st is None:
            # The id as sent is not echoed: it may be anything a client pasted.
            raise ApiError(404, "job_not_found", "no job with this id for this API key")
        return st

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, tags=["jobs"],
             responses={**_ERRORS, 404: {"model": ErrorBody, "description": "No such job."}})
    def status(job_id: str, key: Key) -> dict[str, Any]:
        """Status and progress of a job."""
        return _status(job_id, key)

    @app.get("/v1/jobs/{job_id}/result", response_model=JobResult, tags=["jobs"],
             responses={**_ERRORS, 404: {"model": ErrorBody, "description": "No such job."},
                        409: {"model": ErrorBody, "description": "The job has not finished."}})
    def result(job_id: str, key: Key,
               offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
               limit: Annotated[int, Query(ge=1, le=MAX_RESULT_PAGE)] = MAX_RESULT_PAGE,
               ) -> dict[str, Any]:
        """The users' profiles (pseudonymous ids when serving a study), ``limit`` per page."""
        st = _status(job_id, key)
        if st["status"] != "done":
            msg = (f"job failed: {st['error']}" if st["status"] == "failed" else
                   f"job is {st['status']} ({st['n_done']:,} of {st['n_users']:,} users done); "
                   "poll GET /v1/jobs/{id} until its status is 'done'")
            raise ApiError(409, f"job_{st['status']}", msg)
        return {"id": job_id, "status": st["status"], "n_users": st["n_users"], "offset": offset,
                "users": jobs.job_results(service.folder, job_id, offset, limit)}

    @app.get("/v1/models", response_model=ModelList, responses=_ERRORS, tags=["models"])
    def models(_key: Key) -> dict[str, Any]:
        """Saved and bundled models with their cards."""
        return {"models": service.models()}

    def openapi() -> dict[str, Any]:
        # The jobs route reads its body itself (JSON or a form), so put JobRequest in the schema.
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            extra = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(extra.pop("$defs", {}))
            comps["JobRequest"] = extra
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _invalid(exc: ValidationError, where: str) -> RequestValidationError:
    errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_input=False)]
    return RequestValidationError(errors)


async def _json_users(request: Request) -> list[jobs.UserInput]:
    try:
        req = JobRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise _invalid(exc, "body") from None
    return [(u.id, u.text_list(), u.timestamp_strings()) for u in req.users]


async def _upload_users(request: Request,
                        folder: Path) -> tuple[list[jobs.UserInput], dict[str, int]]:
    from psyprofile.api.upload import users_from_file

    try:
        form = await request.form(max_files=1, max_fields=8)
    except StarletteHTTPException as exc:
        # Starlette's 400 for a malformed form or too many parts: a form the schema does not
        # allow (at most the five fields it lists), answered as every other invalid body.
        raise ApiError(422, "invalid_request", "the form is not one the schema allows (one file "
                       "field 'file' and at most format, user_col, text_col, time_col): "
                       f"{printable(exc.detail, 80)}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "invalid_request", "the form has no file field 'file'")
    fields = {k: v for k, v in form.items() if k != "file"}
    unknown = sorted(set(fields) - set(_UPLOAD_FORM["properties"]))
    if unknown or any(not isinstance(v, str) for v in fields.values()):
        raise ApiError(422, "invalid_request", f"unexpected form fields: {', '.join(unknown)}; "
                       "allowed: file, format, user_col, text_col, time_col")
    fmt = fields.get("format") or "auto"
    if fmt not in ("auto", *FORMATS):
        raise ApiError(422, "invalid_request",
                       f"format '{fmt}' is unknown; use auto or one of {', '.join(FORMATS)}")
    cols = ColumnMap(text=fields.get("text_col") or None, user=fields.get("user_col") or None,
                     time=fields.get("time_col") or None)
    # Readers detect the format from the name's ending, so keep it (and nothing else of it).
    name = Path(upload.filename or "upload").name
    tmp_dir = folder / API_DIR / "uploads"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix="_" + name[-60:]) as tmp:
        await run_in_threadpool(shutil.copyfileobj, upload.file, tmp)
        tmp.flush()
        await upload.close()
        try:
            return await run_in_threadpool(users_from_file, Path(tmp.name), fmt, cols, name)
        except PsyprofileError as exc:
            # Readers name the file they read: show the client's name, not the server's path.
            msg = str(exc).replace(tmp.name, name)
            for opt in ("text", "user", "time"):
                msg = msg.replace(f"--{opt}-col", f"{opt}_col")
            raise PsyprofileError(msg) from None
