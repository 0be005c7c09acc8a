"""Helpers of the fault suite: run the real CLI and check how it ended."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "rtseg" / "sources" / "media" / "sample.mp4"


@dataclass
class Ended:
    code: int
    stderr: str
    stdout: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def rtseg(*args: str | Path, cwd: Path, timeout: float = 120) -> Ended:
    """Run ``python -m rtseg ARGS`` in ``cwd``; a hang fails the test (``timeout``)."""
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "rtseg", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)
    return Ended(proc.returncode, proc.stderr, proc.stdout)


def tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones included) with its sha256."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir() and not any(path.iterdir()):
            out[str(path.relative_to(folder)) + "/"] = ""
    return out


def assert_refused(ended: Ended, code: int, match: str) -> None:
    """One line on stderr saying ``match``, exit ``code``, no traceback."""
    assert ended.code == code, ended.stderr
    assert "Traceback" not in ended.stderr
    errors = [line for line in ended.lines if line.startswith("error:")]
    assert len(errors) == 1 and match in errors[0], ended.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A scratch folder holding a copy of the sample clip as ``in.mp4``."""
    (tmp_path / "in.mp4").write_bytes(SAMPLE.read_bytes())
    return tmp_path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 kB tmpfs: room for the input, not for the outputs."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
