"""Run the real ``rtseg studio`` command for a test and talk raw HTTP to it.

:func:`running_studio` starts ``python -m rtseg studio ARGS --port P`` in a folder, waits until it
serves its page, reads the URL with the token from what it printed, and stops it with Ctrl-C at the end.
:meth:`Studio.call` sends exactly the headers a test gives (``Host``, ``Origin``, ``Sec-Fetch-Site``,
a body with or without a content type), as a hostile page or script could, through ``http.client``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

URL_LINE = re.compile(r"rtseg studio: (http://\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return str(self.json["error"])


@dataclass
class Studio:
    """A running ``rtseg studio``: its port, its token (None if it printed none) and its log file."""

    port: int
    token: str | None
    url: str
    log: Path
    proc: subprocess.Popen[str]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None, auth: bool = True, timeout: float = 120) -> Reply:
        """One request. ``body`` is sent as JSON with its content type, ``raw`` as given (no content type
        unless ``headers`` has one); ``auth`` adds ``Authorization: token TOKEN``; ``headers`` override."""
        h: dict[str, str] = {"Host": f"127.0.0.1:{self.port}"}
        if auth and self.token:
            h["Authorization"] = f"token {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def sessions(self) -> list[str] | None:
        """The open sessions, as the studio's own API says (with the token); None from a studio that
        cannot list them (one older than these tests: they then check the rest)."""
        r = self.call("GET", "/api/sessions")
        if r.status in (404, 405):
            return None
        assert r.status == 200, r.body
        return list(r.json["sessions"])

    def events_until(self, sid: str, task: str, after: int = 0, timeout: float = 300) -> list[dict[str, Any]]:
        """The session's Server-Sent Events after event ``after`` until ``task`` ends (done, cancelled or
        error); each with its number as ``"id"``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        out: list[dict[str, Any]] = []
        n = after
        try:
            conn.request("GET", f"/api/sessions/{sid}/events?after={after}&token={self.token}",
                         headers={"Host": f"127.0.0.1:{self.port}"})
            r = conn.getresponse()
            assert r.status == 200
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = r.fp.readline().decode()
                if line.startswith("id: "):
                    n = int(line[4:])
                if line.startswith("data: "):
                    event = {**json.loads(line[6:]), "id": n}
                    out.append(event)
                    if event.get("task") == task and event["type"] in ("done", "cancelled", "error"):
                        return out
            pytest.fail(f"no end of {task} in {timeout} s: {out}")
        finally:
            conn.close()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_studio(*args: str | Path, cwd: Path, log: Path, timeout: float = 120) -> Iterator[Studio]:
    """``rtseg studio ARGS`` serving on a free port in ``cwd`` (its stderr in ``log``), stopped after."""
    port = free_port()
    env = dict(os.environ, COLUMNS="300")
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rtseg", "studio", *map(str, args), "--port", str(port)],
                                cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
    studio = Studio(port, None, f"http://127.0.0.1:{port}/", log, proc)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if studio.call("GET", "/", auth=False, timeout=2).status in (200, 403):
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"rtseg studio did not start (exit {proc.poll()}):\n{studio.log_text()}")
        time.sleep(0.2)
    printed = URL_LINE.search(studio.log_text())
    if printed:
        studio.url = printed.group(1)
        token = re.search(r"[?&]token=([^&\s]+)", studio.url)
        studio.token = token.group(1) if token else None
    try:
        yield studio
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
