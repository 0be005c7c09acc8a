"""Live faults: a slow or failing output never holds up the virtual camera; a failing one is one line."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtseg.errors import SinkError
from rtseg.frame import Frame
from rtseg.graph.clock import SimulatedClock
from rtseg.jobs import JobSpec, Overrides, build
from rtseg.sinks import NullSink
from rtseg.sources.realtime import RealtimeSource
from tests.faults.conftest import SAMPLE


class FakeVcam:
    """pyvirtualcam.Camera at the device boundary: remembers when each frame was sent."""

    def __init__(self, **kw: Any) -> None:
        self.sent: list[float] = []
        self.device = "/dev/video10"

    def send(self, frame: np.ndarray) -> None:
        self.sent.append(time.monotonic())

    def close(self) -> None:
        pass


class Stalling(NullSink):
    """An output that stops for ``seconds`` at frame ``at`` (a recording on a stalled disk)."""

    name = "stalling"

    def __init__(self, at: int = 5, seconds: float = 2.0, fail: bool = False, optional: bool = False) -> None:
        super().__init__()
        self.at, self.seconds, self.fail, self.optional = at, seconds, fail, optional
        self.window: tuple[float, float] | None = None

    def process(self, frame: Frame) -> None:
        if frame.index == self.at:
            if self.fail:
                raise SinkError("the recording disk went away")
            t0 = time.monotonic()
            time.sleep(self.seconds)
            self.window = (t0, time.monotonic())
        super().process(frame)


def live_pipeline(extra: NullSink, cams: list[FakeVcam]) -> Any:
    def factory(**kw: Any) -> FakeVcam:
        cams.append(FakeVcam(**kw))
        return cams[-1]

    spec = JobSpec.from_dict({"command": "webcam", "source": {"path": str(SAMPLE), "realtime": True, "loop": False},
                              "outputs": [{"kind": "vcam"}], "run": {"status": False}}).check()
    pipeline = build(spec, overrides=Overrides(vcam_factory=factory, extra_sinks=[extra]))
    # A clock that waits only for the pipeline's real work: the frames come as fast as it takes them.
    # Queues that hold the whole clip, so no frame is dropped upstream of the outputs.
    pipeline.source = RealtimeSource(SAMPLE, loop=False, clock=SimulatedClock(), label="sample")
    pipeline.queue_size = 128
    return pipeline


def test_a_stalled_output_does_not_stop_the_virtual_camera() -> None:
    cams: list[FakeVcam] = []
    stalling = Stalling(at=5, seconds=2.0)
    stats = live_pipeline(stalling, cams).run()
    assert stalling.window is not None
    t0, t1 = stalling.window
    during = [t for t in cams[0].sent if t0 < t < t1]
    assert len(during) >= 10, "the virtual camera went on while the other output was stuck"
    assert len(cams[0].sent) == stats.frames_in == 96 and stalling.count == 96


def test_an_output_that_fails_ends_the_run_with_its_error() -> None:
    with pytest.raises(SinkError, match="the recording disk went away"):
        live_pipeline(Stalling(at=5, fail=True), []).run()


def test_an_optional_output_that_fails_ends_alone() -> None:
    cams: list[FakeVcam] = []
    stats = live_pipeline(Stalling(at=5, fail=True, optional=True), cams).run()
    assert "the recording disk went away" in stats.sink_errors["stalling"]
    assert len(cams[0].sent) == stats.frames_in == 96


@pytest.mark.slow
def test_a_live_recording_that_cannot_be_written_is_one_line_and_the_camera_goes_on(tmp_path: Path) -> None:
    """A recording whose folder disappears mid-run: one warning line, the run ends normally."""
    from tests.faults.conftest import rtseg

    rec = tmp_path / "gone"
    rec.mkdir()
    done = threading.Event()

    def remove_folder() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set():
            partial = [p for p in rec.iterdir() if ".rtseg-partial-" in p.name]
            if partial:
                time.sleep(0.5)
                for p in rec.iterdir():
                    p.unlink()
                rec.chmod(0o500)
                return
            time.sleep(0.05)

    threading.Thread(target=remove_folder, daemon=True).start()
    ended = rtseg("webcam", "--source", str(SAMPLE), "--realtime", "--no-loop", "--sink", "null", "--record",
                  str(rec / "r.mp4"), "--no-status", cwd=tmp_path)
    done.set()
    rec.chmod(0o700)
    assert "Traceback" not in ended.stderr
    assert ended.code == 0, ended.stderr
    warnings = [line for line in ended.lines if "record stopped, the other outputs go on" in line]
    assert len(warnings) == 1 and not any(line.startswith("wrote") for line in ended.lines), ended.stderr
    assert "webcam: 96 frames" in ended.stderr and not (rec / "r.mp4").exists()
