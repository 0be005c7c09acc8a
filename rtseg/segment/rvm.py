"""Robust Video Matting through ONNX Runtime: the ``rvm`` model behind ``--quality high``.

A recurrent matting network (see :mod:`rtseg.tools.rvm_import`, which makes the graph with
``rtseg import-rvm``). Each frame goes in whole, at full resolution; the network shrinks it by
``downsample_ratio`` for its encoder and decoder (so that the long side is about
:data:`INTERNAL_SIDE` pixels) and refines the alpha at full resolution with its
deep guided filter. Four hidden states carry what it saw across frames; :meth:`RvmSegmenter.reset`
and :meth:`~RvmSegmenter.open` (a new video) start them again from zeros.

Measured on the DAVIS people (``benchmarks/quality.py --rvm-dir``): far better edges than the selfie
models, at about 450 ms of CPU per 854x480 frame. Files only in practice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rtseg.errors import ModelError
from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.segment.models import sha256_file

ONNX_FILE = "rvm.onnx"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "rtseg-rvm/1"
STATE_CHANNELS = (16, 20, 40, 64)
"""Channels of the four recurrent states r1..r4 (NHWC)."""


def default_dir() -> Path:
    """Where ``import-rvm`` writes and the ``rvm`` model looks by default: ``$RTSEG_RVM_DIR`` or
    ``~/.cache/rtseg/rvm``."""
    env = os.environ.get("RTSEG_RVM_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rtseg" / "rvm"


INTERNAL_SIDE = 640
"""The encoder's input long side: ``downsample_ratio = min(1, 640 / long side)``. RVM's authors advise
about 480 for close-ups and about 768 for full-body shots; on the DAVIS people (full body, 854x480)
640 measured as well as 768 at 70 % of its CPU, and 512 lost 0.013 of inside loss."""


def downsample_ratio(width: int, height: int, side: int = INTERNAL_SIDE) -> float:
    """>>> downsample_ratio(1280, 720), downsample_ratio(1920, 1080, 768), downsample_ratio(320, 240)
    (0.5, 0.4, 1.0)
    """
    return min(1.0, side / max(width, height))


def check_model_dir(model_dir: Path, *, verify: bool = True) -> dict[str, Any]:
    """The manifest of an ``import-rvm`` folder; raises :class:`ModelError` saying how to make one."""
    manifest_path = model_dir / MANIFEST_FILE
    if model_dir.exists() and not model_dir.is_dir():
        from_env = os.environ.get("RTSEG_RVM_DIR")
        named = f"$RTSEG_RVM_DIR ({model_dir})" if from_env and Path(from_env) == model_dir else str(model_dir)
        raise ModelError(f"{named} is a file, not an RVM model folder: point it at the folder `rtseg import-rvm` "
                         "wrote (or unset it for ~/.cache/rtseg/rvm)")
    if not manifest_path.is_file():
        raise ModelError(f"no RVM model in {model_dir}: run `rtseg import-rvm --out {model_dir}` first "
                         "(it needs npm and the rvm-import extra)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ModelError(f"{manifest_path}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    graph = model_dir / manifest["onnx"]["file"]
    if not graph.is_file():
        raise ModelError(f"{graph} is missing; run `rtseg import-rvm --out {model_dir}` again")
    if verify and sha256_file(graph) != manifest["onnx"]["sha256"]:
        raise ModelError(f"{graph} does not match its manifest's sha256; "
                         f"run `rtseg import-rvm --out {model_dir}` again")
    return manifest


class RvmSegmenter:
    """Person alpha at the frame's resolution from RVM, frame after frame (states carried).

    >>> with RvmSegmenter("models/rvm") as seg:  # doctest: +SKIP
    ...     seg.infer(np.zeros((480, 854, 3), np.uint8)).shape
    (480, 854)
    """

    name = "rvm"

    def __init__(self, model_dir: str | Path, *, threads: int | None = None, provider: str = "cpu",
                 internal_side: int = INTERNAL_SIDE) -> None:
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.provider = provider
        self.internal_side = internal_side
        self._session: Any = None
        self._outputs: list[str] = []
        self._states: list[np.ndarray] = []
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> RvmSegmenter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, info: StreamInfo | None = None) -> None:
        if self._session is None:
            from rtseg.segment.providers import create_session

            manifest = check_model_dir(self.model_dir)
            self._session, _ = create_session(self.model_dir / manifest["onnx"]["file"], self.provider, self.threads)
            names = manifest["onnx"]["outputs"]
            self._outputs = [names[k] for k in ("pha", "r1o", "r2o", "r3o", "r4o")]
        self.reset()

    def reset(self) -> None:
        """Forget the hidden states: the next frame starts a new shot."""
        self._states = [np.zeros((1, 1, 1, c), np.float32) for c in STATE_CHANNELS]
        self._size = None

    def segment(self, frame: Frame) -> MaskResult:
        return MaskResult(frame.index, self.infer(frame.image))

    def infer(self, image: np.ndarray) -> np.ndarray:
        """Alpha (float32, 0..1) of an RGB uint8 frame, at its own resolution."""
        if self._session is None:
            raise ModelError("RvmSegmenter: open() first")
        h, w = image.shape[:2]
        if self._size != (w, h):  # a new frame size cannot reuse states of another
            self.reset()
            self._size = (w, h)
        src = image.astype(np.float32)[None]
        src *= np.float32(1.0 / 255.0)
        feeds = {"src:0": src, "downsample_ratio:0": np.array(downsample_ratio(w, h, self.internal_side), np.float32)}
        feeds.update({f"r{i + 1}i:0": s for i, s in enumerate(self._states)})
        pha, *states = self._session.run(self._outputs, feeds)
        self._states = states
        return np.clip(pha[0, :, :, 0], 0.0, 1.0)

    def close(self) -> None:
        self._session = None
        self._states = []
