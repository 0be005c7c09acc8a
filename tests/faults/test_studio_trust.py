"""``rtseg studio`` as a trust boundary, against the real server (``python -m rtseg studio``).

Every request here is one a hostile web page (DNS rebinding, a page on another local port) or a
script without the token could send, otherwise well formed: were the check missing, it would open a
video, read its frames or write a file. Each must be refused, open no session, and leave the disk as
it was (the whole tree hashed before and after). Then the small defects: bad numbers are 400s, not
500s or late error events, and the log shows no traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA
from tests.faults.conftest import SAMPLE, tree
from tests.sam2_conftest import SAM2_DATA
from tests.studio_server import Studio, running_studio

pytestmark = pytest.mark.slow

FRAMES = DATA / "davis" / "lucia" / "JPEGImages"


def frames_folder(folder: Path, source: Path, n: int) -> Path:
    folder.mkdir()
    for p in sorted(source.glob("*.jpg"))[:n]:
        (folder / p.name).symlink_to(p)
    return folder


class Place:
    """The test's disk: ``home`` (the server's current folder, holding ``frames/``) and ``outside``
    (a real video and a folder the studio must never touch)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        base.mkdir(exist_ok=True)
        self.home = base / "home"
        self.home.mkdir()
        self.frames = frames_folder(self.home / "frames", FRAMES, 3)
        self.outside = base / "outside"
        self.outside.mkdir()
        self.secret = self.outside / "secret.mp4"
        self.secret.write_bytes(SAMPLE.read_bytes())
        (self.outside / "holiday.mp4").write_bytes(b"the user's own video")
        (self.home / "escape.mp4").symlink_to(self.secret)  # a link in a root to a file outside it
        self.exports = self.home / "studio-exports"

    def tree(self) -> dict[str, str]:
        return tree(self.base)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    return Place(tmp_path_factory.mktemp("trust"))


@pytest.fixture(scope="module")
def studio(place: Place, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    log = tmp_path_factory.mktemp("trust-log") / "studio.log"
    with running_studio("frames", cwd=place.home, log=log) as s:
        yield s


@pytest.fixture
def sid(studio: Studio, place: Place) -> str:
    """A session opened the right way (token, own Host, JSON)."""
    r = studio.call("POST", "/api/open", body={"path": "frames"})
    assert r.status == 200, r.body
    return str(r.json["session"])


def assert_refused(studio: Studio, place: Place, status: int, method: str, path: str, **kw: Any) -> str:
    """The request is refused with ``status`` and one line of JSON; no session opens, no file changes."""
    sessions, before = studio.sessions(), place.tree()
    r = studio.call(method, path, **kw)
    assert r.status == status, (r.status, r.body[:300])
    assert r.headers["content-type"] == "application/json" and b"\n" not in r.body.strip()
    assert "access-control-allow-origin" not in r.headers
    if studio.token:
        assert studio.token not in r.body.decode()
    assert place.tree() == before  # nothing written, replaced or created
    if sessions is not None:
        assert set(studio.sessions() or []) <= set(sessions)  # nothing opened
    return r.error


OPEN = {"path": "frames"}


def export_body(place: Place) -> dict[str, Any]:
    """Overwrite the user's own video with an overlay video: what an attacker would ask for."""
    return {"kind": "overlay", "path": str(place.outside / "holiday.mp4"), "overwrite": True}


def test_the_server_prints_a_token_url_and_what_it_may_read_and_write(studio: Studio, place: Place) -> None:
    log = studio.log_text()
    assert studio.token is not None and len(studio.token) >= 40, log
    assert studio.url == f"http://127.0.0.1:{studio.port}/?token={studio.token}"
    home = os.path.realpath(place.home)
    assert f"reads videos only under: {os.path.realpath(place.frames)}, {home}" in log
    assert f"writes exports only in: {home}/studio-exports" in log
    assert not place.exports.exists()  # made by the first export, not at start
    assert studio.sessions() is not None


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "localhost.evil.example",
                                  "", "[::1"])
def test_a_foreign_host_is_refused_on_every_route(studio: Studio, place: Place, host: str) -> None:
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, so the browser sends its Host.
    headers = {"Host": f"{host}:{studio.port}" if host and ":" not in host and "[" not in host else host}
    for path in ("/", "/static/app.js", "/api/config"):
        assert_refused(studio, place, 403, "GET", path, headers=headers)
    assert_refused(studio, place, 403, "POST", "/api/open", body=OPEN, headers=headers)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_names_are_served(studio: Studio, name: str) -> None:
    r = studio.call("GET", "/api/config", headers={"Host": f"{name}:{studio.port}"})
    assert r.status == 200 and r.json["model"] == "selfie"


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "http://localhost:{port}",
                                    "null", "https://127.0.0.1:{port}"])
def test_a_foreign_origin_is_refused_on_state_changes(studio: Studio, place: Place, sid: str, origin: str) -> None:
    headers = {"Origin": origin.format(port=studio.port)}
    assert_refused(studio, place, 403, "POST", "/api/open", body=OPEN, headers=headers)
    assert_refused(studio, place, 403, "POST", f"/api/sessions/{sid}/export", body=export_body(place), headers=headers)
    assert_refused(studio, place, 403, "POST", f"/api/sessions/{sid}/close", headers=headers)
    assert sid in studio.sessions()


def test_its_own_origin_may_post(studio: Studio) -> None:
    r = studio.call("POST", "/api/open", body=OPEN, headers={"Origin": studio.origin,
                                                              "Sec-Fetch-Site": "same-origin"})
    assert r.status == 200 and r.json["session"] in studio.sessions()


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_requests_from_other_sites_are_refused(studio: Studio, place: Place, sid: str, site: str) -> None:
    headers = {"Sec-Fetch-Site": site}
    assert_refused(studio, place, 403, "POST", "/api/open", body=OPEN, headers=headers)
    assert_refused(studio, place, 403, "GET", f"/api/sessions/{sid}/frame/0.jpg", headers=headers)  # an <img>
    assert_refused(studio, place, 403, "POST", f"/api/sessions/{sid}/export", body=export_body(place), headers=headers)


@pytest.mark.parametrize("how", ["none", "wrong header", "wrong bearer", "wrong query", "empty query", "basic"])
def test_every_api_call_needs_the_token(studio: Studio, place: Place, sid: str, how: str) -> None:
    headers, query = {
        "none": ({}, ""),
        "wrong header": ({"Authorization": "token nope"}, ""),
        "wrong bearer": ({"Authorization": "Bearer nope"}, ""),
        "wrong query": ({}, "?token=nope"),
        "empty query": ({}, "?token="),
        "basic": ({"Authorization": f"Basic {studio.token}"}, ""),
    }[how]
    kw: dict[str, Any] = {"auth": False, "headers": headers}
    message = assert_refused(studio, place, 403, "GET", f"/api/config{query}", **kw)
    assert "token" in message
    assert_refused(studio, place, 403, "POST", f"/api/open{query}", body=OPEN, **kw)
    assert_refused(studio, place, 403, "GET", f"/api/sessions/{sid}/frame/0.jpg{query}", **kw)
    assert_refused(studio, place, 403, "GET", f"/api/sessions/{sid}/events{query}", **kw)
    assert_refused(studio, place, 403, "POST", f"/api/sessions/{sid}/export{query}", body=export_body(place), **kw)
    assert_refused(studio, place, 403, "POST", f"/api/sessions/{sid}/close{query}", **kw)
    assert sid in studio.sessions()


def test_the_token_is_accepted_as_header_bearer_or_query(studio: Studio, sid: str) -> None:
    assert studio.call("GET", "/api/config", auth=False, headers={"Authorization": f"Bearer {studio.token}"}).status \
        == 200
    frame = studio.call("GET", f"/api/sessions/{sid}/frame/0.jpg?token={studio.token}", auth=False)
    assert frame.status == 200 and frame.headers["content-type"] == "image/jpeg"
    assert studio.call("GET", "/", auth=False).status == 200  # the page holds no secret


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_declared_json_is_refused(studio: Studio, place: Place, sid: str,
                                                     content_type: str | None) -> None:
    # What a page can send without a CORS preflight: a JSON text in a simple request.
    headers = {"Content-Type": content_type} if content_type else {}
    assert_refused(studio, place, 415, "POST", "/api/open", raw=b'{"path": "frames"}', headers=headers)
    raw = b'{"kind": "overlay", "path": "x.mp4"}'
    assert_refused(studio, place, 415, "POST", f"/api/sessions/{sid}/export", raw=raw, headers=headers)


@pytest.mark.parametrize("path", ["{outside}/secret.mp4", "{outside}/none.mp4", "../outside/secret.mp4",
                                  "../outside/none.mp4", "escape.mp4", "/etc/passwd", "/etc/none",
                                  "frames/../../outside/secret.mp4", "~/.bashrc", "{outside}"])
def test_opening_outside_the_roots_says_the_same_whether_or_not_it_exists(studio: Studio, place: Place,
                                                                          path: str) -> None:
    message = assert_refused(studio, place, 403, "POST", "/api/open", body={"path": path.format(outside=place.outside)})
    same = assert_refused(studio, place, 403, "POST", "/api/open", body={"path": str(place.outside / "x" / "y.mp4")})
    assert message == same and message.startswith("not allowed: the studio opens files only under")
    assert "secret" not in message and "none" not in message


def test_a_missing_file_inside_the_roots_is_not_found(studio: Studio, place: Place) -> None:
    message = assert_refused(studio, place, 400, "POST", "/api/open", body={"path": "frames/nothing.mp4"})
    assert message.startswith("not found")


def test_exports_stay_in_the_export_folder_and_replace_only_when_asked(tmp_path: Path) -> None:
    work = Place(tmp_path / "own")  # its own server and disk: it writes
    with running_studio("frames", cwd=work.home, log=tmp_path / "studio.log") as studio:
        sid = studio.call("POST", "/api/open", body=OPEN).json["session"]
        export = f"/api/sessions/{sid}/export"
        for path in ("../escape.mp4", "../../outside/holiday.mp4", str(work.outside / "holiday.mp4"),
                     str(work.home / "here.mp4"), ".", "", "sub/../../x.mp4"):
            message = assert_refused(studio, work, 403 if path else 400, "POST", export,
                                     body={"kind": "overlay", "path": path})
            assert not work.exports.exists(), path  # a refused export leaves no folder behind
            if path:
                assert message.startswith("not allowed: exports go only inside the export folder")
        # the first export makes the folder; the answer and the done event say the absolute path
        r = studio.call("POST", export, body={"kind": "overlay", "path": "clip.mp4"})
        written = os.path.realpath(work.exports / "clip.mp4")
        assert r.status == 202 and r.json["path"] == written
        done = studio.events_until(sid, "export")[-1]
        assert done["type"] == "done" and done["path"] == written and Path(written).stat().st_size > 0
        # the same name again: 409, nothing replaced, until the request says overwrite
        r = assert_refused(studio, work, 409, "POST", export, body={"kind": "overlay", "path": "clip.mp4"})
        assert r.endswith("exists")
        answer = studio.call("POST", export, body={"kind": "overlay", "path": str(work.exports / "clip.mp4")})
        assert answer.status == 409 and answer.json["exists"] is True
        (work.exports / "mine").mkdir()
        (work.exports / "mine" / "notes.txt").write_text("the user's")
        assert_refused(studio, work, 409, "POST", export, body={"kind": "masks", "path": "mine"})
        # a folder the user made is not replaced even with overwrite: the job's own check refuses it (400)
        assert_refused(studio, work, 400, "POST", export, body={"kind": "masks", "path": "mine", "overwrite": True})
        # a link inside the export folder that leads out of it is not a way out
        (work.exports / "out").symlink_to(work.outside)
        assert_refused(studio, work, 403, "POST", export, body={"kind": "overlay", "path": "out/holiday.mp4",
                                                                "overwrite": True})
        (work.exports / "clip.mp4").write_bytes(b"an older export")
        r = studio.call("POST", export, body={"kind": "overlay", "path": "clip.mp4", "overwrite": True})
        assert r.status == 202
        assert studio.events_until(sid, "export", after=done["id"])[-1]["type"] == "done"
        assert (work.exports / "clip.mp4").read_bytes()[4:8] == b"ftyp"  # replaced by a new video
        assert (work.outside / "holiday.mp4").read_bytes() == b"the user's own video"


@pytest.fixture(scope="module")
def sam2_studio(sam2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    base = tmp_path_factory.mktemp("trust-sam2")
    place = Place(base)
    clip = frames_folder(place.home / "bedroom", SAM2_DATA, 3)
    with running_studio(clip, "--model-dir", sam2_model_dir, cwd=place.home, log=base.parent / "sam2.log") as s:
        yield s


def test_bad_numbers_are_400s_at_once_and_leave_no_traceback(sam2_studio: Studio) -> None:
    studio = sam2_studio
    sid = studio.call("POST", "/api/open", body={"path": "bedroom"}).json["session"]
    s = f"/api/sessions/{sid}"
    checks: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", f"{s}/frame/0.jpg?width=0", {}, "width must be at least 1"),
        ("GET", f"{s}/frame/0.jpg?width=-5", {}, "width must be at least 1"),
        ("GET", f"{s}/frame/x.jpg", {}, "index"),
        ("GET", f"{s}/overlay/3.png", {}, "outside the video (frames 0..2)"),
        ("GET", f"{s}/overlay/-1.png", {}, "outside the video"),
        ("POST", f"{s}/click", {"raw": b'{"frame": 0, "x": NaN, "y": 10}'}, "finite number"),
        ("POST", f"{s}/click", {"raw": b'{"frame": 0, "x": 10, "y": Infinity}'}, "finite number"),
        ("POST", f"{s}/click", {"raw": b'{"frame": 0, "x": 10, "y": 1e999}'}, "finite number"),
        ("POST", f"{s}/box", {"raw": b'{"frame": 0, "box": [0, 0, NaN, 10]}'}, "finite number"),
        ("POST", f"{s}/click", {"body": {"frame": 0, "x": 961.0, "y": 10.0}}, "outside the frame (960x540"),
        ("POST", f"{s}/click", {"body": {"frame": 0, "x": -1.0, "y": 10.0}}, "outside the frame (960x540"),
        ("POST", f"{s}/box", {"body": {"frame": 0, "box": [0, 0, 10, 600]}}, "outside the frame (960x540"),
        ("POST", f"{s}/click", {"body": {"frame": 3, "x": 1.0, "y": 1.0}}, "outside the video"),
        ("POST", f"{s}/click", {"body": {"frame": 0, "x": 1.0, "y": 1.0, "label": 2}},
         "point labels must be 0 (exclude) or 1 (include), got [2]"),
        ("POST", f"{s}/click", {"body": {"frame": 0, "object": 256, "x": 1.0, "y": 1.0}},
         "object id must be in 1..255, got 256"),
        ("POST", f"{s}/export", {"body": {"kind": "masks", "path": "m"}}, "nothing to export: click an object first"),
        ("POST", f"{s}/click", {"body": {"frame": 0, "x": 1.0}}, "y: Field required"),
        ("POST", f"{s}/click", {"body": {"frame": 0, "x": 1.0, "y": 1.0, "extra": 1}}, "extra"),
        ("POST", "/api/open", {"raw": b"{not json"}, "JSON"),
    ]
    for method, path, kw, message in checks:
        if "raw" in kw:
            kw = {**kw, "headers": {"Content-Type": "application/json"}}
        r = studio.call(method, path, **kw)
        assert r.status == 400 and r.headers["content-type"] == "application/json", (path, kw, r.status, r.body)
        assert message in r.error and "\n" not in r.error, (path, kw, r.error)
    assert studio.call("POST", f"{s}/click", body={"frame": 0, "x": 210.0, "y": 350.0}).status == 200
    for start in (3, -1):  # refused now, not later as an error event
        r = studio.call("POST", f"{s}/propagate", body={"start": start})
        assert r.status == 400 and "outside the video (frames 0..2)" in r.error, r.body
    assert studio.call("GET", f"{s}").json["busy"] is None  # nothing started
    r = studio.call("GET", "/api/nothing")
    assert r.status == 404 and r.json == {"error": "Not Found"}
    r = studio.call("GET", "/api/sessions/nope")
    assert r.status == 404 and "no open video" in r.error
    log = studio.log_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
