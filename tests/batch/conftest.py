"""Media for the batch tests: short clips cut from the shared gallery clips (encoded with PyAV), DAVIS
image folders, a photo, and a corrupt file, in a scratch folder (the shared data is never written)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import DATA, require

CLIP_SIZE = (640, 360)


def cut_clip(src: Path, dst: Path, frames: int, start: int = 0) -> Path:
    """The first ``frames`` frames after ``start`` of ``src``, scaled to 640x360, as H.264 (PyAV)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = CLIP_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for i, frame in enumerate(inp.decode(video=0)):
            if i < start:
                continue
            if i >= start + frames:
                break
            rgb = frame.to_ndarray(format="rgb24", width=CLIP_SIZE[0], height=CLIP_SIZE[1])
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def copy_frames(src: Path, dst: Path, count: int) -> Path:
    dst.mkdir(parents=True)
    for path in sorted(src.glob("*.jpg"))[:count]:
        shutil.copyfile(path, dst / path.name)
    return dst


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("batch-clips")
    return {"dog": cut_clip(require(DATA / "gallery" / "01_dog.mp4"), folder / "dog.mp4", 24, start=30),
            "coffee": cut_clip(require(DATA / "gallery" / "04_coffee.mp4"), folder / "coffee.mp4", 24, start=60),
            "long": cut_clip(require(DATA / "gallery" / "05_default_juggle.mp4"), folder / "long.mp4", 90)}


@pytest.fixture
def six(tmp_path: Path, clips: dict[str, Path]) -> Path:
    """The six-item input folder: two clips, two DAVIS image folders, a photo, a corrupt video."""
    root = tmp_path / "in"
    (root / "clips").mkdir(parents=True)
    shutil.copyfile(clips["dog"], root / "clips" / "dog.mp4")
    shutil.copyfile(clips["coffee"], root / "clips" / "coffee.mp4")
    (root / "clips" / "broken.mp4").write_bytes(clips["dog"].read_bytes()[:2000])  # cut off: not playable
    copy_frames(require(DATA / "davis" / "lucia" / "JPEGImages"), root / "davis" / "lucia", 8)
    copy_frames(require(DATA / "davis" / "dance-twirl" / "JPEGImages"), root / "davis" / "dance-twirl", 8)
    (root / "photos").mkdir()
    shutil.copyfile(require(DATA / "webcam" / "portraits").glob("*.jpg").__next__(), root / "photos" / "face.jpg")
    return root


@pytest.fixture
def segment_job(tmp_path: Path) -> Path:
    job = tmp_path / "segment.toml"
    job.write_text('command = "segment"\n')
    return job


def start_cli(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """``python -m rtseg ARGS`` in the background; its stderr goes to ``cwd/stderr.txt`` (read it as it runs)."""
    env = dict(os.environ, COLUMNS="200")
    with open(cwd / "stderr.txt", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "rtseg", *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=err, text=True, env=env)


def finish(proc: subprocess.Popen[str], cwd: Path, timeout: float = 300) -> str:
    """Wait for ``proc``; its stderr."""
    proc.wait(timeout=timeout)
    return (cwd / "stderr.txt").read_text()


def wait_until(condition: Callable[[], object], proc: subprocess.Popen[str] | None = None,
               timeout: float = 240, every: float = 0.01) -> object:
    """Poll ``condition`` until it is truthy (fails if ``proc`` ends first or on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the batch ended (exit {proc.returncode}) before the condition held")
        time.sleep(every)
    pytest.fail("timed out waiting")


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".rtseg-partial-" in p.name]


def read_report(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def statuses(rows: list[dict[str, object]]) -> dict[str, object]:
    return {Path(str(r["input"])).name: r["status"] for r in rows}
