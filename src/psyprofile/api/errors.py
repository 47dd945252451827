"""One JSON shape for every error the service returns, whoever raised it.

``{"error": {"code": "...", "message": "...", "detail": ...}}``: ``code`` is a stable
snake_case name clients can branch on, ``message`` a sentence for people, ``detail``
optional structured data (e.g. which field failed validation). Request bodies are never
echoed back or logged, because they hold people's posts.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from psyprofile.errors import PsyprofileError, printable

log = logging.getLogger("psyprofile.api")

# Codes for the HTTP errors Starlette raises by itself (unknown path, wrong method, ...).
_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 500: "internal_error",
}
_UNPARSABLE = "There was an error parsing the body"  # FastAPI's words for an unreadable body


class ApiError(Exception):
    """An error answered with ``status`` and the stable error body."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail
        self.headers = headers


def error_response(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response every error path ends in."""
    return JSONResponse({"error": {"code": code, "message": message, "detail": detail}},
                        status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # pydantic puts the offending input (possibly a whole post) in each error: drop it.
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()]


def log_exception(exc: BaseException, where: str) -> None:
    """Log an unexpected error by type and stack only: its message may quote user text."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unexpected %s in %s (message withheld)\n%s", type(exc).__name__, where, stack)


def install_handlers(app: FastAPI) -> None:
    """Route FastAPI's, Starlette's and psyprofile's errors to the stable shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _validation_detail(exc)
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return error_response(422, "invalid_request", f"{where}: {first['msg']}", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE:
            # FastAPI's answer to a body that is not even UTF-8: malformed JSON, like the rest.
            detail = [{"loc": ["body"], "msg": "not UTF-8 JSON", "type": "json_invalid"}]
            return error_response(422, "invalid_request", "the body is not valid UTF-8 JSON",
                                  detail)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = (f"{message}: {request.method} {printable(request.url.path, 80)}; the endpoints are "
                       "listed at /docs and /openapi.json")
        return error_response(exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(PsyprofileError)
    async def _ours(_: Request, exc: PsyprofileError) -> JSONResponse:
        # psyprofile's own errors describe the input and the fix, never quote the texts.
        return error_response(422, "unprocessable_input", str(exc))
