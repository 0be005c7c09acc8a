"""The studio's web app (FastAPI): one page, a JSON API, Server-Sent Events for progress.

Every open video is a :class:`~rtseg.studio.session.StudioSession` with its own model session and
bounded caches; the app's lifespan closes them all, and the page closes its own when it goes
(``navigator.sendBeacon``). Model work runs off the event loop (FastAPI's thread pool for a click,
a session's worker thread for propagation and export). Errors are JSON ``{"error": "..."}`` with 400
(bad input) or 404 (no such session).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from rtseg.errors import RtsegError
from rtseg.studio.session import StudioSession

MAX_SESSIONS = 4
"""Open videos at once; opening another closes the least recently used."""


class OpenBody(BaseModel):
    path: str


class ClickBody(BaseModel):
    frame: int
    object: int = 1
    x: float
    y: float
    label: int = 1


class BoxBody(BaseModel):
    frame: int
    object: int = 1
    box: tuple[float, float, float, float]


class ObjectBody(BaseModel):
    object: int = 1


class PropagateBody(BaseModel):
    start: int | None = None


class ExportBody(BaseModel):
    kind: str
    path: str


class Studio:
    """What the app holds: the model directory and the open sessions."""

    def __init__(self, model_dir: Path | None, initial: str | None = None, threads: int | None = None) -> None:
        self.model_dir = model_dir
        self.initial = initial
        self.threads = threads
        self.sessions: dict[str, StudioSession] = {}

    def open(self, path: str) -> StudioSession:
        session = StudioSession(path, self.model_dir, threads=self.threads)
        while len(self.sessions) >= MAX_SESSIONS:
            oldest = min(self.sessions.values(), key=lambda s: s.last_used)
            self.close(oldest.id)
        self.sessions[session.id] = session
        return session

    def get(self, sid: str) -> StudioSession:
        session = self.sessions.get(sid)
        if session is None:
            raise KeyError(sid)
        import time

        session.last_used = time.monotonic()
        return session

    def close(self, sid: str) -> bool:
        session = self.sessions.pop(sid, None)
        if session is None:
            return False
        session.close()
        return True

    def close_all(self) -> None:
        for sid in list(self.sessions):
            self.close(sid)


def _static(name: str) -> str:
    return resources.files("rtseg.studio").joinpath("static", name).read_text(encoding="utf-8")


def create_app(model_dir: Path | None = None, initial: str | None = None, threads: int | None = None) -> FastAPI:
    """The studio app; ``model_dir`` is a SAM 2 export (None: the selfie model), ``initial`` the video
    the page opens first."""
    if model_dir is not None:
        from rtseg.segment.sam2.manifest import Sam2Model

        Sam2Model.from_dir(model_dir, verify=False)  # a missing or broken export fails now, not on first click
    studio = Studio(model_dir, initial, threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(studio.close_all)

    app = FastAPI(title="rtseg studio", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.studio = studio

    @app.exception_handler(RtsegError)
    async def rtseg_error(request: Request, exc: RtsegError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(KeyError)
    async def no_session(request: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"error": f"no open video {exc.args[0]!r} (closed, or the server restarted)"},
                            status_code=404)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return _static("index.html")

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        types = {".js": "text/javascript", ".css": "text/css"}
        suffix = Path(name).suffix
        if suffix not in types or "/" in name:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(_static(name), media_type=types[suffix])

    @app.get("/api/config")
    async def config() -> dict[str, Any]:
        return {"model": "sam2" if model_dir is not None else "selfie", "initial": studio.initial}

    @app.post("/api/open")
    async def open_video(body: OpenBody) -> dict[str, Any]:
        session = await run_in_threadpool(studio.open, body.path)
        return session.info()

    @app.get("/api/sessions/{sid}")
    async def info(sid: str) -> dict[str, Any]:
        return studio.get(sid).info()

    @app.delete("/api/sessions/{sid}")
    async def close(sid: str) -> dict[str, Any]:
        return {"closed": await run_in_threadpool(studio.close, sid)}

    @app.post("/api/sessions/{sid}/close")
    async def close_beacon(sid: str) -> dict[str, Any]:  # navigator.sendBeacon can only POST
        return {"closed": await run_in_threadpool(studio.close, sid)}

    @app.get("/api/sessions/{sid}/frame/{index}.jpg")
    async def frame(sid: str, index: int, width: int | None = None) -> Response:
        data = await run_in_threadpool(studio.get(sid).frame_jpeg, index, width)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/sessions/{sid}/overlay/{index}.png")
    async def overlay(sid: str, index: int) -> Response:
        data = await run_in_threadpool(studio.get(sid).overlay_png, index)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.post("/api/sessions/{sid}/click")
    async def click(sid: str, body: ClickBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).click, body.frame, body.object, body.x, body.y, body.label)

    @app.post("/api/sessions/{sid}/box")
    async def box(sid: str, body: BoxBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).box, body.frame, body.object, body.box)

    @app.post("/api/sessions/{sid}/undo")
    async def undo(sid: str, body: ObjectBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).undo, body.object)

    @app.post("/api/sessions/{sid}/clear")
    async def clear(sid: str, body: ObjectBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).clear_object, body.object)

    @app.post("/api/sessions/{sid}/propagate", status_code=202)
    async def propagate(sid: str, body: PropagateBody) -> dict[str, Any]:
        studio.get(sid).propagate(body.start)
        return {"started": "propagate"}

    @app.post("/api/sessions/{sid}/cancel")
    async def cancel(sid: str) -> dict[str, Any]:
        session = studio.get(sid)
        session.cancel.set()
        return {"cancelling": session.task, "propagated": len(session.propagated)}

    @app.post("/api/sessions/{sid}/export", status_code=202)
    async def export(sid: str, body: ExportBody) -> dict[str, Any]:
        await run_in_threadpool(studio.get(sid).export, body.kind, body.path)
        return {"started": "export", "path": body.path}

    @app.get("/api/sessions/{sid}/events")
    async def events(sid: str, request: Request, after: int = 0) -> StreamingResponse:
        session = studio.get(sid)

        async def stream() -> AsyncIterator[str]:
            last = after
            while not await request.is_disconnected() and session.id in studio.sessions:
                for n, event in session.events.since(last):
                    last = n
                    yield f"id: {n}\ndata: {json.dumps(event)}\n\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    return app
