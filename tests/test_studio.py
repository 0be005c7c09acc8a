"""``rtseg studio``'s HTTP API with its real app (Starlette's TestClient), SAM 2 from the random-weight
export, frames from the SAM 2 notebook video.

The client sends what the studio's page sends: its token and a loopback ``Host``. The trust boundary
itself (foreign Host or Origin, no token, paths outside the roots) is tested against the real server in
``tests/faults/test_studio_trust.py``.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from rtseg.jobs.build import build
from rtseg.jobs.spec import JobSpec
from rtseg.segment.prompts import Prompt
from rtseg.studio.app import create_app
from tests.conftest import png_hashes as pngs
from tests.sam2_conftest import SAM2_DATA

CLICK = {"frame": 0, "object": 1, "x": 210.0, "y": 350.0, "label": 1}


def client(app: Any) -> TestClient:
    """A client like the studio's page: a loopback Host and the app's token on every call."""
    return TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": f"token {app.state.token}"})


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("studio-clip")
    for i in range(6):
        (folder / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    return folder


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def sam2_client(sam2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, exports: Path) -> Any:
    app = create_app(sam2_model_dir, roots=[tmp_path_factory.getbasetemp()], export_dir=exports)
    with client(app) as c:
        yield c


def events_until(client: TestClient, sid: str, task: str, after: int = 0, timeout: float = 300) -> list[dict[str, Any]]:
    """Read the session's Server-Sent Events until ``task`` ends (done, cancelled or error)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"/api/sessions/{sid}/events?after={after}") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                out.append(event)
                if event.get("task") == task and event["type"] in ("done", "cancelled", "error"):
                    return out
            assert time.monotonic() < deadline, "no end event"
    return out


def overlay_alpha(client: TestClient, sid: str, frame: int) -> np.ndarray:
    r = client.get(f"/api/sessions/{sid}/overlay/{frame}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)))[..., 3]


@pytest.mark.slow
def test_click_propagate_export_equals_rtseg_track(sam2_client: TestClient, sam2_model_dir: Path, clip: Path,
                                                  tmp_path: Path, exports: Path) -> None:
    c = sam2_client
    info = c.post("/api/open", json={"path": str(clip)}).json()
    sid = info["session"]
    assert (info["frames"], info["width"], info["height"], info["model"]) == (6, 960, 540, "sam2")
    frame = c.get(f"/api/sessions/{sid}/frame/0.jpg")
    assert frame.status_code == 200 and Image.open(io.BytesIO(frame.content)).size == (960, 540)
    assert not overlay_alpha(c, sid, 0).any()  # nothing clicked yet
    r = c.post(f"/api/sessions/{sid}/click", json=CLICK).json()
    assert r["objects"] == [1] and r["ms"] > 0
    assert c.get(f"/api/sessions/{sid}").json()["clicks"] == [
        {"frame": 0, "object": 1, "points": [[210.0, 350.0]], "labels": [1], "box": None}]
    alpha = overlay_alpha(c, sid, 0)
    assert 0 < (alpha > 0).mean() < 1  # the mask is drawn where the object is, not everywhere
    assert not overlay_alpha(c, sid, 3).any()  # not propagated yet
    assert c.post(f"/api/sessions/{sid}/propagate", json={}).status_code == 202
    events = events_until(c, sid, "propagate")
    assert events[-1]["type"] == "done" and events[-1]["done"] == 6
    assert [e["done"] for e in events if e["type"] == "progress"] == list(range(1, 7))
    assert overlay_alpha(c, sid, 5).any()
    out = exports / "studio-masks"
    r = c.post(f"/api/sessions/{sid}/export", json={"kind": "masks", "path": "studio-masks"})
    assert r.status_code == 202 and r.json()["path"] == str(out)
    done = events_until(c, sid, "export", after=len(events))[-1]
    assert done["type"] == "done" and done["path"] == str(out)
    cli = tmp_path / "track-masks"
    build(JobSpec.from_dict({"command": "track", "input": str(clip), "masks": str(cli), "run": {"progress": False},
                             "model": {"dir": str(sam2_model_dir), "prompts": [{"points": [[210, 350]]}]}})
          .check()).run()
    assert pngs(out) == pngs(cli) and len(pngs(out)) == 6
    spec = c.app.state.studio.sessions[sid].export_spec("masks", str(out))  # type: ignore[attr-defined]
    assert spec.model.model_dump()["prompts"] == [
        {"frame": 0, "object": 1, "points": [(210.0, 350.0)], "labels": [1], "box": None, "mask": None,
         "add": False}]


@pytest.mark.slow
def test_undo_clear_and_a_second_object(sam2_client: TestClient, clip: Path) -> None:
    c = sam2_client
    studio = c.app.state.studio  # type: ignore[attr-defined]
    sid = c.post("/api/open", json={"path": str(clip)}).json()["session"]
    c.post(f"/api/sessions/{sid}/click", json=CLICK)
    one = overlay_alpha(c, sid, 0)
    c.post(f"/api/sessions/{sid}/click", json={**CLICK, "x": 700.0, "y": 120.0, "label": 0})
    assert not np.array_equal(overlay_alpha(c, sid, 0), one)
    assert [p.to_prompt() for p in studio.sessions[sid].export_spec("masks", "m").model.prompts] == [
        Prompt(0, 1, points=((210, 350),)),
        Prompt(0, 1, points=((700, 120),), labels=(0,), add=True)]  # the record: the second click adds to the first
    c.post(f"/api/sessions/{sid}/undo", json={"object": 1})
    assert np.array_equal(overlay_alpha(c, sid, 0), one)  # undo gives back the first click's mask exactly
    r = c.post(f"/api/sessions/{sid}/box", json={"frame": 0, "object": 2, "box": [400, 100, 700, 400]}).json()
    assert r["objects"] == [1, 2]
    assert [p.to_prompt() for p in studio.sessions[sid].export_spec("masks", "m").model.prompts] == [
        Prompt(0, 1, points=((210, 350),), labels=(1,)), Prompt(0, 2, box=(400, 100, 700, 400))]
    assert c.post(f"/api/sessions/{sid}/clear", json={"object": 1}).json()["objects"] == [2]
    bad = c.post(f"/api/sessions/{sid}/undo", json={"object": 1})
    assert bad.status_code == 400 and "no click to undo" in bad.json()["error"]


@pytest.mark.slow
def test_cancel_stops_propagation_between_frames(sam2_client: TestClient, tmp_path: Path) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    c = sam2_client
    sid = c.post("/api/open", json={"path": str(folder)}).json()["session"]
    c.post(f"/api/sessions/{sid}/click", json=CLICK)
    c.post(f"/api/sessions/{sid}/propagate", json={})
    seen: list[dict[str, Any]] = []
    at_cancel = None
    with c.stream("GET", f"/api/sessions/{sid}/events") as r:
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            seen.append(event)
            if event["type"] == "progress" and event["done"] == 2:
                at_cancel = c.post(f"/api/sessions/{sid}/cancel").json()["propagated"]
            if event["type"] in ("cancelled", "done", "error"):
                break
    assert seen[-1]["type"] == "cancelled" and at_cancel is not None
    assert seen[-1]["done"] <= at_cancel + 1 < 40  # at most the frame in flight when the cancel came
    assert c.get(f"/api/sessions/{sid}").json()["propagated"] == seen[-1]["done"]


def test_bad_input_is_a_clear_error_in_json(sam2_client: TestClient, clip: Path, tmp_path: Path) -> None:
    c = sam2_client
    r = c.post("/api/open", json={"path": str(tmp_path / "nothing.mp4")})
    assert r.status_code == 400 and r.json()["error"].startswith("not found")
    (tmp_path / "notes.txt").write_text("not a video")
    r = c.post("/api/open", json={"path": str(tmp_path / "notes.txt")})
    assert r.status_code == 400 and "not a readable video" in r.json()["error"]
    assert c.get("/api/sessions/nope").status_code == 404
    sid = c.post("/api/open", json={"path": str(clip)}).json()["session"]
    r = c.get(f"/api/sessions/{sid}/frame/99.jpg")
    assert r.status_code == 400 and "outside the video" in r.json()["error"]
    r = c.post(f"/api/sessions/{sid}/click", json={**CLICK, "x": 5000.0})
    assert r.status_code == 400 and r.json()["error"] == (
        "prompt point (5000, 350) for object 1 on frame 0 is outside the frame (960x540: expected 0<=x<=960, "
        "0<=y<=540)")  # the one prompt check's message
    r = c.post(f"/api/sessions/{sid}/click", json={**CLICK, "label": 2})
    assert r.status_code == 400 and r.json()["error"] == (
        "prompt for object 1 on frame 0: point labels must be 0 (exclude) or 1 (include), got [2]")
    r = c.post(f"/api/sessions/{sid}/box", json={"frame": 0, "object": 0, "box": [1, 2, 3, 4]})
    assert r.status_code == 400 and r.json()["error"] == "object id must be in 1..255, got 0"
    assert c.get(f"/api/sessions/{sid}").json()["clicks"] == []  # refused prompts are not kept
    # no clicks: nothing to export, refused at once (no dummy prompt, no job, no export folder)
    r = c.post(f"/api/sessions/{sid}/export", json={"kind": "masks", "path": "m"})
    assert r.status_code == 400 and r.json() == {"error": "nothing to export: click an object first"}
    assert c.get(f"/api/sessions/{sid}").json()["busy"] is None
    assert not (tmp_path / "exports").exists()  # a refused export leaves no export folder behind
    assert c.post(f"/api/sessions/{sid}/click", json=CLICK).status_code == 200
    r = c.post(f"/api/sessions/{sid}/export", json={"kind": "masks", "path": "m"})
    assert r.status_code == 400 and "propagate first: 0 of 6 frames have masks" in r.json()["error"]
    assert not (tmp_path / "exports").exists()
    r = c.post("/api/open", json={"path": 3})
    assert r.status_code == 400 and r.json() == {"error": "path: Input should be a valid string"}


def test_closing_the_page_frees_the_session(sam2_client: TestClient, clip: Path) -> None:
    c = sam2_client
    studio = c.app.state.studio  # type: ignore[attr-defined]
    sid = c.post("/api/open", json={"path": str(clip)}).json()["session"]
    model = studio.sessions[sid].interactive.model
    assert model.is_open
    assert c.post(f"/api/sessions/{sid}/close").json() == {"closed": True}  # what the page's beacon sends
    assert sid not in studio.sessions and not model.is_open  # ONNX Runtime sessions released
    assert c.get(f"/api/sessions/{sid}").status_code == 404


def test_a_missing_model_folder_fails_at_start(tmp_path: Path) -> None:
    from rtseg.errors import ModelError

    with pytest.raises(ModelError):
        create_app(tmp_path)


def test_the_page_and_its_files_are_served_from_the_package() -> None:
    app = create_app(None)
    with client(app) as c:
        page = c.get("/")
        assert page.status_code == 200 and "<script src=\"/static/app.js\">" in page.text
        assert "http" not in page.text.replace("http-equiv", "")  # no CDN
        assert c.get("/static/app.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/static/style.css").status_code == 200
        assert c.get("/static/../app.py").status_code == 404
        config = c.get("/api/config").json()
        assert config["model"] == "selfie" and config["roots"] == [str(Path.cwd().resolve())]
        assert config["exports"] == str(Path.cwd().resolve() / "studio-exports")
        assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in \
            page.headers["content-security-policy"]
    with TestClient(app, base_url="http://127.0.0.1") as anonymous:  # the page needs no token, the API does
        assert anonymous.get("/").status_code == 200
        assert anonymous.get("/api/config").status_code == 403
    with TestClient(app, headers={"Authorization": f"token {app.state.token}"}) as elsewhere:
        assert elsewhere.get("/api/config").status_code == 403  # Host: testserver is not this machine


@pytest.mark.slow
def test_selfie_preview_is_what_the_masks_export_writes(tmp_path: Path) -> None:
    """The page's selfie mask on a frame is the export's PNG for it, however the user moves through the
    clip: the preview runs the export's segmenter (ROI pass, smoothing, refinement) over the frames in
    order, as the export does, since each frame's mask depends on the frames before it. 20 frames of a
    real clip, so the ROI pass re-detects on the full frame (every 15 frames) once."""
    from tests.conftest import DATA

    n = 20
    photo_dir = tmp_path / "frames"
    photo_dir.mkdir()
    for p in sorted((DATA / "davis" / "lucia" / "JPEGImages").glob("*.jpg"))[:n]:
        (photo_dir / p.name).symlink_to(p)
    exports = tmp_path / "exports"
    with client(create_app(None, roots=[tmp_path], export_dir=exports)) as c:
        info = c.post("/api/open", json={"path": str(photo_dir)}).json()
        sid = info["session"]
        assert info["model"] == "selfie"
        preview = c.app.state.studio.sessions[sid].preview  # type: ignore[attr-defined]
        preview.budget_bytes = 0  # keep nothing: an earlier frame is made again from frame 0
        jumped = {i: overlay_alpha(c, sid, i) > 0 for i in (12, 3)}  # frames 0..12, then 0..3 again
        shown = {i: overlay_alpha(c, sid, i) > 0 for i in range(n)}  # 0 again, then one more each time
        assert preview.runs == 13 + 4 + n
        assert all(np.array_equal(jumped[i], shown[i]) for i in jumped)
        assert 0 < shown[0].mean() < 1  # a person, no clicks needed
        r = c.post(f"/api/sessions/{sid}/click", json=CLICK)
        assert r.status_code == 400 and "clicks need SAM 2" in r.json()["error"]
        out = exports / "studio"
        c.post(f"/api/sessions/{sid}/export", json={"kind": "masks", "path": "studio"})
        assert events_until(c, sid, "export")[-1]["type"] == "done"
        written = {i: np.asarray(Image.open(out / f"{i:05d}.png")) for i in range(n)}
        for i in range(n):
            assert np.array_equal(preview.alpha(i), written[i]), i  # the 8-bit mask itself
            assert np.array_equal(shown[i], written[i] >= 128), i  # what the page draws: at least half opaque
        assert any(((a > 0) & (a < 255)).any() for a in written.values())  # soft edges: not a 0/1 comparison
    cli = tmp_path / "cli"
    build(JobSpec.from_dict({"command": "segment", "input": str(photo_dir), "masks": str(cli),
                             "run": {"progress": False}}).check()).run()
    assert pngs(out) == pngs(cli) and len(pngs(out)) == n


def test_an_internal_error_is_one_line_of_json_and_one_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import DATA

    app = create_app(None, roots=[DATA])
    with client(app) as c:
        sid = c.post("/api/open", json={"path": str(DATA / "davis" / "lucia" / "JPEGImages")}).json()["session"]

        def broken(*args: Any) -> bytes:
            raise TypeError("a bug")

        app.state.studio.sessions[sid].frame_jpeg = broken
        r = c.get(f"/api/sessions/{sid}/frame/0.jpg")
    assert r.status_code == 500 and r.json() == {"error": "internal error: TypeError: a bug"}
    [record] = [rec for rec in caplog.records if "a bug" in rec.getMessage()]
    assert record.exc_info is None and "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--model-dir", "no-such-dir"], "--model-dir no-such-dir: not a folder"),
    (["missing.mp4"], "not found: missing.mp4"),
    (["--root", "nowhere"], "--root nowhere: not a folder"),
    (["--out", "notes.txt"], "is a file, not a folder"),
    (["--out", "no/such/exports"], "its parent folder does not exist"),
])
def test_studio_command_refuses_bad_arguments_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    from tests.faults.conftest import assert_refused, rtseg

    (tmp_path / "notes.txt").write_text("a file")
    assert_refused(rtseg("studio", *args, cwd=tmp_path), 2, message)
