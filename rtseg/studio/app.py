"""The studio's web app (FastAPI): one page, a JSON API, Server-Sent Events for progress.

Every open video is a :class:`~rtseg.studio.session.StudioSession` with its own model session and
bounded caches; the app's lifespan closes them all, and the page closes its own when it goes
(``navigator.sendBeacon``). Model work runs off the event loop (FastAPI's thread pool for a click,
a session's worker thread for propagation and export).

The app is a trust boundary (:mod:`rtseg.studio.guard`: Host, Origin, token, content type) that reads
and writes only where :class:`~rtseg.studio.files.FileRules` allow. Errors are one line of JSON
``{"error": "..."}`` (:mod:`rtseg.studio.failures`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from rtseg.studio import failures
from rtseg.studio.failures import NoSessionError, OneLineErrors
from rtseg.studio.files import FileRules
from rtseg.studio.guard import Guard, HostRule, new_token
from rtseg.studio.session import StudioSession

MAX_SESSIONS = 4
"""Open videos at once; opening another closes the least recently used."""
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
"""The page's files (served without the token: they hold no secret)."""


class Body(BaseModel):
    """Request bodies: unknown keys refused, no NaN or infinity in numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OpenBody(Body):
    path: str


class ClickBody(Body):
    frame: int
    object: int = 1
    x: float
    y: float
    label: int = 1


class BoxBody(Body):
    frame: int
    object: int = 1
    box: tuple[float, float, float, float]


class ObjectBody(Body):
    object: int = 1


class PropagateBody(Body):
    start: int | None = None


class ExportBody(Body):
    kind: str
    path: str
    overwrite: bool = False


class Studio:
    """What the app holds: the model directory, the file rules and the open sessions."""

    def __init__(self, model_dir: Path | None, files: FileRules, initial: str | None = None,
                 threads: int | None = None) -> None:
        self.model_dir = model_dir
        self.files = files
        self.initial = initial
        self.threads = threads
        self.sessions: dict[str, StudioSession] = {}

    def open(self, path: str) -> StudioSession:
        real = self.files.readable(path)
        session = StudioSession(str(real), self.model_dir, threads=self.threads)
        while len(self.sessions) >= MAX_SESSIONS:
            oldest = min(self.sessions.values(), key=lambda s: s.last_used)
            self.close(oldest.id)
        self.sessions[session.id] = session
        return session

    def get(self, sid: str) -> StudioSession:
        session = self.sessions.get(sid)
        if session is None:
            raise NoSessionError(f"no open video {sid!r} (closed, or the server restarted)")
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

    def export(self, sid: str, kind: str, path: str, overwrite: bool) -> Path:
        """Start an export of session ``sid`` to ``path`` in the export folder; the absolute path written."""
        session = self.get(sid)
        target = self.files.export_target(path, overwrite)
        with self.files.export_folder():
            session.export(kind, str(target))
        return target


def _static(name: str) -> str:
    return resources.files("rtseg.studio").joinpath("static", name).read_text(encoding="utf-8")


def create_app(model_dir: Path | None = None, initial: str | None = None, threads: int | None = None, *,
               token: str | None = None, roots: Iterable[str | Path] | None = None,
               export_dir: str | Path | None = None, bind: str = "127.0.0.1", hosts: Iterable[str] = (),
               debug: bool = False) -> FastAPI:
    """The studio app.

    ``model_dir`` is a SAM 2 export (None: the selfie model), ``initial`` the video the page opens
    first. Every ``/api/`` call needs ``token`` (a new one if None: ``app.state.token``). The app
    reads only under ``roots`` (default: ``initial`` and the current directory) and writes only in
    ``export_dir`` (default ``./studio-exports``). It answers to loopback ``Host`` names, ``bind``
    and ``hosts``. ``debug`` logs tracebacks of internal errors.
    """
    if model_dir is not None:
        from rtseg.segment.sam2.manifest import Sam2Model

        Sam2Model.from_dir(model_dir, verify=False)  # a missing or broken export fails now, not on first click
    if roots is None:
        roots = [Path.cwd(), *([initial] if initial else [])]
    files = FileRules.create(roots, export_dir)
    studio = Studio(model_dir, files, initial, threads)
    token = token or new_token()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(studio.close_all)

    app = FastAPI(title="rtseg studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio
    app.state.token = token
    failures.install(app)
    app.add_middleware(Guard, token=token, hosts=HostRule(bind, hosts))
    app.add_middleware(OneLineErrors, debug=debug)  # added last: outermost, so it also sees the guard's failures

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return _static("index.html")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/api/config")
    async def config() -> dict[str, Any]:
        return {"model": "sam2" if model_dir is not None else "selfie", "initial": studio.initial,
                "roots": [str(r.path) for r in files.roots], "exports": str(files.export_dir)}

    @app.get("/api/sessions")
    async def sessions() -> dict[str, Any]:
        return {"sessions": sorted(studio.sessions)}

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
        prompts = studio.get(sid).prompting()
        return await run_in_threadpool(prompts.click, body.frame, body.object, body.x, body.y, body.label)

    @app.post("/api/sessions/{sid}/box")
    async def box(sid: str, body: BoxBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).prompting().box, body.frame, body.object, body.box)

    @app.post("/api/sessions/{sid}/undo")
    async def undo(sid: str, body: ObjectBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).prompting().undo, body.object)

    @app.post("/api/sessions/{sid}/clear")
    async def clear(sid: str, body: ObjectBody) -> dict[str, Any]:
        return await run_in_threadpool(studio.get(sid).prompting().clear_object, body.object)

    @app.post("/api/sessions/{sid}/propagate", status_code=202)
    async def propagate(sid: str, body: PropagateBody) -> dict[str, Any]:
        studio.get(sid).propagate(body.start)
        return {"started": "propagate"}

    @app.post("/api/sessions/{sid}/cancel")
    async def cancel(sid: str) -> dict[str, Any]:
        session = studio.get(sid)
        session.tasks.cancel.set()
        return {"cancelling": session.tasks.current, "propagated": len(session.propagated)}

    @app.post("/api/sessions/{sid}/export", status_code=202)
    async def export(sid: str, body: ExportBody) -> dict[str, Any]:
        target = await run_in_threadpool(studio.export, sid, body.kind, body.path, body.overwrite)
        return {"started": "export", "path": str(target)}

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
