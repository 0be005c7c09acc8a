"""Every way a process ends: Ctrl-C, SIGTERM, SIGHUP leave the finished file or none; SIGKILL's leftovers are
cleaned by the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from rtseg import interrupts
from rtseg.sinks.atomic import AtomicDir
from tests.faults.conftest import rtseg

pytestmark = pytest.mark.slow

JUGGLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "gallery" / "05_default_juggle.mp4"


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rtseg", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, COLUMNS="200"))


def wait_for_partial(folder: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the job is writing (a hidden partial output exists): the signal then lands mid-run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(".rtseg-partial-" in p.name for p in folder.iterdir()):
            return
        if proc.poll() is not None:
            pytest.fail(f"the job ended before writing: {proc.communicate()[1]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the job never started writing")


def frames_in(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("moment", [0.0, 0.3, 2.0], ids=["as-writing-starts", "early", "mid-run"])
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_file_job_stopped_by_a_signal_leaves_no_output(tmp_path: Path, sig: int, code: int, moment: float) -> None:
    proc = start("blur", str(JUGGLE), "-o", "out.mp4", "--masks", "m", "--no-progress", cwd=tmp_path)
    wait_for_partial(tmp_path, proc)
    time.sleep(moment)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("moment", [0.2, 2.0], ids=["early", "later"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_live_job_stopped_by_a_signal_keeps_a_playable_recording(tmp_path: Path, sig: int, moment: float) -> None:
    proc = start("webcam", "--source", str(JUGGLE), "--realtime", "--sink", "null", "--record", "rec.mp4",
                 "--stats-json", "s.json", "--no-status", cwd=tmp_path)
    wait_for_partial(tmp_path, proc)
    time.sleep(moment)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    stats = json.loads((tmp_path / "s.json").read_text())
    recorded = frames_in(tmp_path / "rec.mp4")
    lost = stats["drops_by_queue"].get("outputs->record", 0)
    # every frame that reached the outputs up to the stop is in the recording (none lost silently)
    assert recorded > 0 and recorded + lost == stats["frames_out"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4", "s.json"]


def test_after_a_sigkill_the_next_run_removes_the_dead_writers_partials(tmp_path: Path) -> None:
    proc = start("blur", str(JUGGLE), "-o", "out.mp4", "--masks", "m", "--no-progress", cwd=tmp_path)
    wait_for_partial(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=30)
    left = [p.name for p in tmp_path.iterdir()]
    assert left and all(".rtseg-partial-" in name for name in left)
    # a live writer's partial file must survive the cleanup
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = tmp_path / f".other.rtseg-partial-{alive.pid}.mp4"
        keep.write_bytes(b"in progress")
        ended = rtseg("blur", "sample", "-o", "s.mp4", "--no-progress", cwd=tmp_path)
        assert ended.code == 0, ended.stderr
        assert f"removed {len(left)} partial output" in ended.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([keep.name, "s.mp4"])
    finally:
        alive.kill()


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Every stop signal raises KeyboardInterrupt in this (the main) thread, as in an rtseg command."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    with interrupts.handled(handler):
        yield


def test_a_ctrl_c_the_instant_a_partial_folder_is_made_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ctrl_c_raises: None) -> None:
    real_mkdir = os.mkdir

    def mkdir_then_ctrl_c(path: Any, *args: Any, **kwargs: Any) -> None:
        real_mkdir(path, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # lands at the next bytecode: the folder exists, unrecorded

    monkeypatch.setattr(os, "mkdir", mkdir_then_ctrl_c)
    folder = AtomicDir(tmp_path / "m")
    with pytest.raises(KeyboardInterrupt):
        folder.open()
    assert list(tmp_path.iterdir()) == []


def test_a_ctrl_c_between_the_two_renames_of_a_swap_waits_for_the_swap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ctrl_c_raises: None) -> None:
    target = tmp_path / "m"
    for content in (b"old", b"new"):
        folder = AtomicDir(target)
        (folder.open() / "00000.png").write_bytes(content)
        if content == b"old":
            folder.commit()
    real_replace = os.replace

    def replace_then_ctrl_c(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if Path(dst).name != "m":  # the old folder is aside, the new one not yet in place
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        folder.commit()
    folder.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert (target / "00000.png").read_bytes() == b"new"
