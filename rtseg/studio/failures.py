"""How the studio's API answers a failure: one line of JSON, ``{"error": "..."}``, never a traceback page.

* an :class:`~rtseg.errors.RtsegError` is the caller's mistake: 400, or 403 for a path the studio may
  not touch, 404 for a closed session, 409 for an export that would replace a file (with ``"exists"``);
* FastAPI's request validation (422 by default) is 400 with the first problem in one line;
* Starlette's HTTP errors (404 route, 405 method) keep their status with ``{"error": ...}``;
* anything else is a bug: 500 ``internal error: TypeError: ...``, logged as one line (with its
  traceback only under ``--debug``). Starlette's own last-resort handler always re-raises to the
  server, which prints the traceback, so :class:`OneLineErrors` catches first.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rtseg.errors import RtsegError, internal_error, one_line
from rtseg.studio.files import NotAllowedError, OutputExistsError

log = logging.getLogger("rtseg")


class NoSessionError(RtsegError, LookupError):
    """No open video with that id (closed by its page, or the server restarted) (HTTP 404)."""


def status_of(exc: RtsegError) -> int:
    """The HTTP status of a deliberate error.

    >>> status_of(NotAllowedError("x")), status_of(OutputExistsError("x")), status_of(RtsegError("x"))
    (403, 409, 400)
    """
    if isinstance(exc, NotAllowedError):
        return 403
    if isinstance(exc, NoSessionError):
        return 404
    if isinstance(exc, OutputExistsError):
        return 409
    return 400


def validation_message(exc: RequestValidationError) -> str:
    """The first validation problem as ``body.x: Input should be a finite number``."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body" or len(first.get("loc", ())) == 1)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return one_line(f"{where}: {first.get('msg', 'invalid')}{more}" if where else f"{first.get('msg')}{more}")


def install(app: FastAPI) -> None:
    """Register the JSON error answers for deliberate errors, validation and HTTP errors on ``app``."""

    @app.exception_handler(RtsegError)
    async def rtseg_error(request: Request, exc: RtsegError) -> JSONResponse:
        body: dict[str, Any] = {"error": one_line(str(exc))}
        if isinstance(exc, OutputExistsError):
            body["exists"] = True
        return JSONResponse(body, status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": validation_message(exc)}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": one_line(str(exc.detail))}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))


class OneLineErrors:
    """ASGI middleware: an unexpected exception becomes a 500 JSON answer and one log line."""

    def __init__(self, app: ASGIApp, *, debug: bool = False) -> None:
        self.app = app
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            message = one_line(internal_error(exc))
            log.error("studio: %s %s: %s", scope.get("method"), scope.get("path"), message)
            if self.debug:
                traceback.print_exception(exc)
            if started:
                return  # the answer is half sent: the server ends the connection
            body = json.dumps({"error": message}).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
