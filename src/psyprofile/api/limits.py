"""ASGI middleware: request body limits and a last-resort handler for unexpected errors.

The limit is enforced while the body streams in: a ``Content-Length`` above the limit is
refused before a byte is read, and a chunked body is cut off as soon as it passes the
limit, so a huge request never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psyprofile.api.errors import log_exception


def _body(status: int, code: str, message: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    data = json.dumps({"error": {"code": code, "message": message, "detail": None}}).encode()
    return data, [(b"content-type", b"application/json"),
                  (b"content-length", str(len(data)).encode())]


async def _respond(send: Send, status: int, code: str, message: str) -> None:
    data, headers = _body(status, code, message)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class GuardMiddleware:
    """Caps request bodies (bytes, by path) and turns any escaped exception into a 500.

    ``limit_for(path)`` gives the byte limit of a request path. Exceptions are logged by
    type and stack only (see :func:`psyprofile.api.errors.log_exception`) and not re-raised,
    so the server's own error log never prints a message that could quote a post.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        too_large = (f"the request body is larger than this endpoint accepts ({limit:,} bytes); "
                     "send fewer or shorter texts, or split the batch into several jobs")
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _respond(send, 413, "body_too_large", too_large)
            return
        seen = 0
        started = cut_off = False

        async def counted_receive() -> Message:
            nonlocal seen, started, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    # Answer now and tell the app the client left: whatever it replies is dropped.
                    cut_off = True
                    if not started:
                        started = True
                        await _respond(send, 413, "body_too_large", too_large)
                    return {"type": "http.disconnect"}
            return msg

        async def tracked_send(msg: Message) -> None:
            nonlocal started
            if cut_off:
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence must catch everything
            if cut_off:
                return
            log_exception(exc, f"{scope.get('method')} {scope['path']}")
            if not started:
                await _respond(send, 500, "internal_error",
                               "an unexpected error occurred; it was logged without the request's "
                               "content. Please report it with the time of the request.")
