"""The studio page in a real browser: Debian's headless Chromium driven by Playwright, against the real
``rtseg studio`` command serving a SAM 2 random-weight export.

Open the URL the command printed (with its token), click a point on frame 0, wait for the overlay,
check the page's pixels changed where the mask is, propagate, export the masks into the export folder
(again: the page asks before replacing) and compare them with ``rtseg track`` on the same click. A
second test serves a hostile page from another local port whose script tries to drive the studio
(``fetch`` with and without ``no-cors``, untyped bodies, credentials, an ``<img>`` of a frame, a
beacon): the studio opens, closes and writes nothing, and its own page goes on working. Set
``RTSEG_STUDIO_SCREENSHOT=PATH`` to keep the screenshot (the README's comes from here).
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from rtseg.jobs.build import build
from rtseg.jobs.spec import JobSpec
from tests.conftest import png_hashes as pngs
from tests.faults.conftest import tree
from tests.sam2_conftest import SAM2_DATA
from tests.studio_server import Studio, free_port, running_studio

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
POINT = (210.0, 350.0)


@pytest.fixture
def server(sam2_model_dir: Path, tmp_path: Path) -> Iterator[tuple[Studio, Path]]:
    """``rtseg studio CLIP`` in ``tmp_path/home``; the clip's frames are links to the SAM 2 notebook's."""
    home = tmp_path / "home"
    clip = home / "clip"
    clip.mkdir(parents=True)
    for i in range(4):
        (clip / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    with running_studio(clip, "--model-dir", sam2_model_dir, cwd=home, log=tmp_path / "studio.log") as studio:
        yield studio, clip


def launch(pw: Any) -> Any:
    if CHROMIUM is None:
        pytest.fail("Chromium is missing: scripts/test installs Debian's chromium (apt-get install chromium)")
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])


def open_studio(browser: Any, studio: Studio) -> tuple[Any, list[str]]:
    """The studio's page opened with the printed token URL, its first video shown; and its script errors."""
    # bypass_csp: the page's Content-Security-Policy forbids eval, which Playwright's wait_for_function uses
    page = browser.new_page(viewport={"width": 1400, "height": 800}, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    assert studio.token and studio.url.endswith(f"?token={studio.token}")
    page.goto(studio.url)
    page.wait_for_selector("body[data-session]", timeout=60_000)
    page.wait_for_function("document.getElementById('frame').complete && "
                           "document.getElementById('frame').naturalWidth > 0")
    return page, errors


def click_and_wait(page: Any) -> None:
    box = page.locator("#marks").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + POINT[0] * box["width"] / 960, box["y"] + POINT[1] * box["height"] / 540)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('mask in')", timeout=60_000)
    page.wait_for_function("document.getElementById('overlay').complete", timeout=30_000)
    page.wait_for_timeout(300)


def test_click_see_the_mask_propagate_and_export_in_a_real_browser(server: tuple[Studio, Path], sam2_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    studio, clip = server
    exports = tmp_path / "home" / "studio-exports"
    out = exports / "exported"
    with sync_playwright() as pw:
        browser = launch(pw)
        page, errors = open_studio(browser, studio)
        assert "token" not in page.url  # taken out of the address bar (kept in this tab's sessionStorage)
        assert page.locator("#exports").text_content() == os.path.realpath(exports)
        assert os.path.realpath(clip) in (page.locator("#roots").text_content() or "")
        stage = page.locator("#stage")
        before = np.asarray(Image.open(io.BytesIO(stage.screenshot())).convert("RGB")).astype(np.int16)
        click_and_wait(page)
        shot = stage.screenshot()
        after = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(np.int16)
        # Where the server says the mask is, the page changed; elsewhere it did not (but for the click dot).
        sid = page.evaluate("document.body.dataset.session")
        overlay = Image.open(io.BytesIO(studio.call("GET", f"/api/sessions/{sid}/overlay/0.png").body))
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
        assert not exports.exists()  # made by the first export, not before
        page.fill("#export-path", "exported")
        page.select_option("#export-kind", "masks")
        page.click("#export")
        page.wait_for_selector("body[data-export='done']", timeout=300_000)
        assert page.locator("#status").text_content() == f"export done: {os.path.realpath(out)}"
        first = pngs(out)
        # the same name again: the page asks before replacing, and replaces only when the user agrees
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.click("#export")
        page.wait_for_function("document.getElementById('status').textContent === 'export not started'")
        assert len(asked) == 1 and "exists" in asked[0] and pngs(out) == first
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.click("#export")
        page.wait_for_selector("body[data-export='done']", timeout=300_000)
        assert len(asked) == 2 and pngs(out) == first
        clicks = studio.call("GET", f"/api/sessions/{sid}").json["clicks"]
        assert errors == []
        page.goto("about:blank")  # the page goes: its beacon closes its session on the server
        wait_until(lambda: studio.sessions() == [], "closing the page did not free its session")
        assert studio.call("GET", f"/api/sessions/{sid}").status == 404
        browser.close()
    # the click as the server received it (the browser's mouse lands on whole CSS pixels)
    [click] = clicks
    assert abs(click["points"][0][0] - POINT[0]) < 3 and abs(click["points"][0][1] - POINT[1]) < 3
    cli = tmp_path / "cli"
    build(JobSpec.from_dict({"command": "track", "input": str(clip), "masks": str(cli), "run": {"progress": False},
                             "model": {"dir": str(sam2_model_dir), "prompts": [{"points": click["points"]}]}})
          .check()).run()
    assert len(pngs(out)) == 4 and pngs(out) == pngs(cli)


def wait_until(condition: Any, message: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.2)


ATTACK = """<!doctype html><html><body><script>
"use strict";
const targets = [STUDIO, STUDIO.replace("127.0.0.1", "localhost")];
const results = {};
async function attempt(name, send) {
  try { const r = await send(); results[name] = `${r.type} ${r.status}`; }
  catch (e) { results[name] = `refused: ${e.name}`; }
}
(async () => {
  for (const [n, s] of targets.entries()) {
    const open = JSON.stringify({ path: CLIP });
    const exp = JSON.stringify({ kind: "masks", path: "stolen", overwrite: true });
    await attempt(`${n} json`, () => fetch(`${s}/api/open`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: open }));
    await attempt(`${n} no-cors`, () => fetch(`${s}/api/open`, { method: "POST", mode: "no-cors", body: open }));
    await attempt(`${n} no-cors json type`, () => fetch(`${s}/api/open`, { method: "POST", mode: "no-cors",
      headers: { "Content-Type": "application/json" }, body: open }));
    await attempt(`${n} blob`, () => fetch(`${s}/api/open`, { method: "POST", mode: "no-cors",
      body: new Blob([open]) }));
    await attempt(`${n} credentials`, () => fetch(`${s}/api/open`, { method: "POST", mode: "no-cors",
      credentials: "include", body: open }));
    await attempt(`${n} export`, () => fetch(`${s}/api/sessions/${SID}/export`, { method: "POST", mode: "no-cors",
      credentials: "include", body: exp }));
    await attempt(`${n} config`, () => fetch(`${s}/api/config`));
    results[`${n} img`] = await new Promise((done) => {
      const img = new Image();
      img.onload = () => done(`loaded ${img.naturalWidth}`); img.onerror = () => done("refused");
      img.src = `${s}/api/sessions/${SID}/frame/0.jpg`;
    });
    results[`${n} beacon`] = navigator.sendBeacon(`${s}/api/sessions/${SID}/close`);
  }
  window.results = results; document.body.dataset.done = "1";
})();
</script></body></html>
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None: ...


def test_a_page_on_another_local_port_cannot_drive_the_studio(server: tuple[Studio, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    studio, clip = server
    site = tmp_path / "attacker"
    site.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                            functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            page, errors = open_studio(browser, studio)
            sid = page.evaluate("document.body.dataset.session")
            (site / "attack.html").write_text(ATTACK.replace("STUDIO", json.dumps(studio.origin))
                                              .replace("CLIP", json.dumps(str(clip))).replace("SID", json.dumps(sid)))
            sessions, disk = studio.sessions(), tree(tmp_path / "home")
            attacker = browser.new_page()
            attacker.on("pageerror", lambda e: errors.append(f"attacker: {e}"))
            attacker.goto(f"http://127.0.0.1:{httpd.server_address[1]}/attack.html")
            attacker.wait_for_selector("body[data-done]", state="attached", timeout=60_000)
            results = attacker.evaluate("window.results")
            attacker.wait_for_timeout(1000)  # let the beacons arrive
            # The browser got nothing back: CORS requests fail (no CORS headers), no-cors ones are opaque,
            # the image does not load...
            for n in (0, 1):
                assert results[f"{n} json"] == results[f"{n} config"] == "refused: TypeError", results
                for name in ("no-cors", "no-cors json type", "blob", "credentials", "export"):
                    assert results[f"{n} {name}"] == "opaque 0", results
                assert results[f"{n} img"] == "refused", results
            # ...and the studio did nothing: no session opened or closed, no file written.
            assert studio.sessions() == sessions == [sid]
            assert tree(tmp_path / "home") == disk and not (tmp_path / "home" / "studio-exports").exists()
            # the page opened without its token says how to open it (a new tab: its own sessionStorage)
            bare = browser.new_page()
            bare.goto(studio.url.split("?")[0])
            bare.wait_for_selector("body[data-token='missing']", state="attached")
            message = bare.locator("#error").text_content() or ""
            assert "open the URL `rtseg studio` printed, with its token" in message
            assert studio.sessions() == [sid]
            # the studio's own page still works
            click_and_wait(page)
            assert studio.call("GET", f"/api/sessions/{sid}").json["clicks"][0]["frame"] == 0
            assert errors == []
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    log = studio.log_text()
    assert "Traceback" not in log, log
