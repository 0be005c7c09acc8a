"""Shared fixtures: paths to the real test media in ../shared/data and small helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest_plugins = ["tests.sam2_conftest"]

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT.parent / "shared" / "data").resolve()

JUGGLE = DATA / "gallery" / "05_default_juggle.mp4"
DOG = DATA / "gallery" / "01_dog.mp4"
DAVIS = DATA / "davis"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test media missing: {path} (expected ../shared/data beside the repo)")
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real ``rtseg`` command in a subprocess (exit code, stdout and stderr as a user sees them)."""
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "rtseg", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env=env)


def read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert m is not None, f"cannot read {path}"
    return m


def png_hashes(folder: Path) -> dict[str, str]:
    """Every PNG below ``folder`` (path relative to it → sha256 of its bytes), for byte-for-byte comparisons;
    the batch's resume records are left out."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png")) if ".rtseg-batch" not in p.parts}


def visible(folder: Path) -> list[Path]:
    """What ``ls`` shows of an output folder, sorted: rtseg's hidden ``.rtseg-output.json`` left out."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))



@pytest.fixture(scope="session")
def juggle() -> Path:
    return require(JUGGLE)


@pytest.fixture(scope="session")
def dog() -> Path:
    return require(DOG)


@pytest.fixture(scope="session")
def davis() -> Path:
    return require(DAVIS)
