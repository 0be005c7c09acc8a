"""The Python API given the wrong kind of argument: a TypeError or ConfigError with a sentence saying what
is accepted, raised at the call (not an AttributeError or ZeroDivisionError from deep inside)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rtseg
from rtseg.errors import ConfigError

CASES: dict[str, tuple[Callable[[], Any], type[Exception], str]] = {
    "run(None)": (lambda: rtseg.run(None), TypeError,  # type: ignore[arg-type]
                  "takes a JobSpec, a dict of job keys or the path of a TOML job file, not NoneType"),
    "run(3)": (lambda: rtseg.run(3), TypeError, "not int"),  # type: ignore[arg-type]
    "run(dict without input)": (lambda: rtseg.run({"command": "blur"}), ConfigError, "blur needs an input"),
    "track points='x'": (lambda: rtseg.track("sample", "m", points="x"), TypeError,  # type: ignore[arg-type]
                         "points must be a dict of object id to a list of (x, y) points"),
    "track points={1: 'ab'}": (lambda: rtseg.track("sample", "m", points={1: "ab"}), TypeError,  # type: ignore
                               "points[1] must be a list of (x, y) points"),
    "track points={1: [(1, 2, 1, 0)]}": (lambda: rtseg.track("sample", "m", points={1: [(1, 2, 1, 0)]}),  # type: ignore
                                         TypeError, "each point is a pair (x, y) or (x, y, label)"),
    "track points={'a': …}": (lambda: rtseg.track("sample", "m", points={"a": [(1, 2)]}),  # type: ignore
                              TypeError, "object ids are whole numbers"),
    "track NaN point": (lambda: rtseg.track("sample", "m", points={1: [(float("nan"), 2)]}), ConfigError,
                        "points[1]: a point's x must be a finite number, got nan"),
    "track boxes={1: (1, 2, 3)}": (lambda: rtseg.track("sample", "m", boxes={1: (1, 2, 3)}),  # type: ignore
                                   TypeError, "boxes[1] must be (x0, y0, x1, y1)"),
    "track model_dir=None": (lambda: rtseg.track("sample", None), TypeError,  # type: ignore[arg-type]
                             "model_dir must be the folder `rtseg export-sam2` wrote"),
    "blur input=None": (lambda: rtseg.blur(None, "o.mp4"), TypeError,  # type: ignore[arg-type]
                        "input must be a path (str or os.PathLike), not NoneType"),
    "blur output=5": (lambda: rtseg.blur("sample", 5), TypeError, "output must be a path"),  # type: ignore
    "segment_video options=[]": (lambda: rtseg.segment_video("sample", options=[]), TypeError,  # type: ignore
                                 "options must be a dict of job keys"),
    "open_segmenter options='x'": (lambda: rtseg.open_segmenter("selfie", options="x"), TypeError,  # type: ignore
                                   "options must be a dict of mask keys"),
    "open_segmenter model=1": (lambda: rtseg.open_segmenter(1), TypeError, "model must be a model name"),  # type: ignore
}


@pytest.mark.parametrize("name", list(CASES))
def test_wrong_arguments_raise_a_sentence_at_the_call(name: str) -> None:
    call, kind, message = CASES[name]
    with pytest.raises(kind) as caught:
        call()  # the generators (track, segment_video) check before the first frame is asked for
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("frame", [np.zeros((0, 0, 3), np.uint8), np.zeros((0, 5, 3), np.uint8)])
def test_an_empty_frame_is_a_config_error_not_a_division_by_zero(frame: np.ndarray) -> None:
    with rtseg.open_segmenter("selfie") as seg, pytest.raises(ConfigError, match="at least 1x1 pixels"):
        seg(frame)


def test_a_frame_that_is_not_an_array_is_a_type_error() -> None:
    with rtseg.open_segmenter("selfie") as seg, pytest.raises(TypeError, match="numpy array"):
        seg([[0, 0, 0]])  # type: ignore[arg-type]


def test_a_dict_and_a_toml_path_run_like_a_spec(tmp_path: Path) -> None:
    stats = rtseg.run({"command": "segment", "source": {"path": "synthetic:32x24@3"},
                       "outputs": [{"kind": "masks", "path": os.fspath(tmp_path / "m")}], "run": {"progress": False}})
    assert stats.frames_out == 3 and len(list((tmp_path / "m").glob("*.png"))) == 3
    (tmp_path / "job.toml").write_text('command = "segment"\ninput = "synthetic:32x24@2"\nmasks = "m2"\n'
                                       '[run]\nprogress = false\n')
    assert rtseg.run(tmp_path / "job.toml").frames_out == 2 and (tmp_path / "m2").is_dir()


def test_a_frames_iterator_left_open_does_not_abort_the_interpreter_at_exit() -> None:
    """``it = segment_video(...); next(it)`` and then the script ends: the pipeline's threads are stopped
    before the native libraries go (before, the process died with SIGABRT)."""
    code = "import rtseg\nit = rtseg.segment_video('sample')\nprint(next(it).alpha.shape)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(360, 640)"
