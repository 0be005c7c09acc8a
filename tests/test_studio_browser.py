"""The studio page in a real browser: Debian's headless Chromium driven by Playwright, against the real
``rtseg studio`` command serving a SAM 2 random-weight export.

Click a point on frame 0, wait for the overlay, check the page's pixels changed where the mask is,
propagate, export the masks and compare them with ``rtseg track`` on the same click. Set
``RTSEG_STUDIO_SCREENSHOT=PATH`` to keep the screenshot (the README's comes from here).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from rtseg.jobs.build import build
from rtseg.jobs.spec import JobSpec
from tests.conftest import png_hashes as pngs
from tests.sam2_conftest import SAM2_DATA

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
POINT = (210.0, 350.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(sam2_model_dir: Path, tmp_path: Path) -> Any:
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(4):
        (clip / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rtseg", "studio", str(clip), "--model-dir", str(sam2_model_dir),
                             "--port", str(port)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "api/config", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=5)
                pytest.fail(f"rtseg studio did not start (exit {proc.returncode}):\n{err}")
            time.sleep(0.2)
    yield url, clip
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    assert proc.returncode is not None


def test_click_see_the_mask_propagate_and_export_in_a_real_browser(server: Any, sam2_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("Chromium is missing: scripts/test installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    url, clip = server
    out = tmp_path / "exported"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("body[data-session]", timeout=60_000)
        page.wait_for_function("document.getElementById('frame').complete && "
                               "document.getElementById('frame').naturalWidth > 0")
        stage = page.locator("#stage")
        before = np.asarray(Image.open(io.BytesIO(stage.screenshot())).convert("RGB")).astype(np.int16)
        box = page.locator("#marks").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + POINT[0] * box["width"] / 960, box["y"] + POINT[1] * box["height"] / 540)
        page.wait_for_function("document.getElementById('status').textContent.startsWith('mask in')", timeout=60_000)
        page.wait_for_function("document.getElementById('overlay').complete", timeout=30_000)
        page.wait_for_timeout(300)
        shot = stage.screenshot()
        after = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(np.int16)
        # Where the server says the mask is, the page changed; elsewhere it did not (but for the click dot).
        sid = page.evaluate("document.body.dataset.session")
        overlay = Image.open(io.BytesIO(urllib.request.urlopen(f"{url}api/sessions/{sid}/overlay/0.png").read()))
        mask = np.asarray(overlay.resize((after.shape[1], after.shape[0]), Image.NEAREST))[..., 3] > 0
        changed = np.abs(after - before).sum(axis=2) > 30
        assert 0.02 < mask.mean() < 0.98, "the mask should cover part of the frame"
        # compare away from the mask's edges (the page scales the overlay its own way)
        kernel = np.ones((3, 3), np.uint8)
        inside = cv2.erode(mask.astype(np.uint8), kernel, iterations=2) > 0
        outside = cv2.erode((~mask).astype(np.uint8), kernel, iterations=2) > 0
        assert inside.any() and outside.any()
        assert changed[inside].mean() > 0.95
        assert changed[outside].mean() < 0.05
        assert abs(changed.mean() - mask.mean()) < 0.1
        if os.environ.get("RTSEG_STUDIO_SCREENSHOT"):
            Path(os.environ["RTSEG_STUDIO_SCREENSHOT"]).write_bytes(page.screenshot())
        page.click("#propagate")
        page.wait_for_selector("body[data-propagate='done']", timeout=300_000)
        page.fill("#export-path", str(out))
        page.select_option("#export-kind", "masks")
        page.click("#export")
        page.wait_for_selector("body[data-export='done']", timeout=300_000)
        clicks = json.loads(urllib.request.urlopen(f"{url}api/sessions/{sid}").read())["clicks"]
        assert errors == []
        page.goto("about:blank")  # the page goes: its beacon closes its session on the server
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}api/sessions/{sid}")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
                break
            time.sleep(0.2)
        else:
            pytest.fail("closing the page did not free its session")
        browser.close()
    # the click as the server received it (the browser's mouse lands on whole CSS pixels)
    [click] = clicks
    assert abs(click["points"][0][0] - POINT[0]) < 3 and abs(click["points"][0][1] - POINT[1]) < 3
    cli = tmp_path / "cli"
    build(JobSpec.from_dict({"command": "track", "input": str(clip), "masks": str(cli), "run": {"progress": False},
                             "model": {"dir": str(sam2_model_dir), "prompts": [{"points": click["points"]}]}})
          .check()).run()
    assert len(pngs(out)) == 4 and pngs(out) == pngs(cli)
