"""The messages of the remaining faults: a full disk, usage errors, bad config values, a second Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.conftest import SAMPLE, assert_refused, rtseg, tree

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("output", [["--masks", "m"], ["-o", "out.mp4", "--crf", "0", "--preset", "ultrafast"],
                                    ["-o", "frames"]])
def test_a_full_disk_says_the_disk_is_full(small_disk: Path, output: list[str]) -> None:
    (small_disk / "in.mp4").write_bytes(SAMPLE.read_bytes())  # 170 kB
    before = tree(small_disk)
    ended = rtseg("segment" if output[0] == "--masks" else "blur", "in.mp4", *output, "--no-progress",
                  cwd=small_disk)
    assert_refused(ended, 1, "the disk is full")
    assert ".rtseg-partial-" not in ended.stderr  # the name the user gave, not the hidden file
    assert tree(small_disk) == before


@pytest.mark.parametrize(("args", "match"), [
    (["blur", "in.mp4", "-o", "o.mp4", "--strength", "abc"], "Invalid value for '--strength'"),
    (["blur", "in.mp4", "-o", "o.mp4", "--nosuch"], "No such option: --nosuch"),
    (["webcam", "--sink", "nosuch"], "Invalid value for '--sink'"),
    (["replace", "in.mp4", "--background", "#GGGGGG", "-o", "o.mp4"], "background colour must be #RRGGBB"),
    (["blur", "in.mp4", "-o", "o.mp4", "--crf", "99"], "'encoder.crf'"),
    (["blur", "in.mp4", "-o", "o.mp4", "--model", "nosuch"], "unknown model 'nosuch'"),
])
def test_usage_errors_are_one_line_with_exit_2(work: Path, args: list[str], match: str) -> None:
    before = tree(work)
    ended = rtseg(*args, cwd=work)
    assert_refused(ended, 2, match)
    assert "╭" not in ended.stderr and "│" not in ended.stderr  # no boxed panels
    assert tree(work) == before


@pytest.mark.parametrize(("toml", "match"), [
    ('command = "blur"\ninput = "in.mp4"\noutput = "o.mp4"\nrun = 5\n', "'run' must be a table ([run]) of keys, got 5"),
    ('command = "blur"\ninput = "in.mp4"\noutput = "o.mp4"\n[mask]\nroi = "yes"\n', "'mask.roi'"),
    ('command = "blur"\ninput = "in.mp4"\noutput = "o.mp4"\n[model]\nsha256 = "ab"\n', "give [model] file too"),
    ('command = "blur"\ninput = "in.mp4"\noutput = "o.mp4"\n[encoder]\ncodec = "nosuch"\n',
     "unknown video encoder 'nosuch'"),
    ('command = "blur"\ninput = "in.mp4"\noutput = "o.mp4"\n[mask]\nroix = 1\n', "unknown key 'mask.roix'"),
])
def test_bad_config_values_are_one_line_with_exit_2(work: Path, toml: str, match: str) -> None:
    (work / "job.toml").write_text(toml)
    assert_refused(rtseg("run", "job.toml", cwd=work), 2, match)
    assert not (work / "o.mp4").exists()


def test_a_config_that_is_not_utf8_is_one_line(work: Path) -> None:
    (work / "job.toml").write_bytes(b'command = "blur"\ninput = "\xff\xfe.mp4"\n')
    assert_refused(rtseg("run", "job.toml", cwd=work), 2, "not a UTF-8 text file")


def test_a_second_ctrl_c_aborts_quietly(tmp_path: Path) -> None:
    import os
    import sys

    juggle = Path(__file__).resolve().parents[3] / "shared" / "data" / "gallery" / "05_default_juggle.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "rtseg", "webcam", "--source", str(juggle), "--realtime",
                             "--sink", "null", "--record", "rec.mp4", "--no-status"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, COLUMNS="200"))
    deadline = time.monotonic() + 120
    while not any(".rtseg-partial-" in p.name for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "cannot write" not in err, err
    # the second Ctrl-C came before the recording was finished: it is either complete or absent
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left in ([], ["rec.mp4"]), left
