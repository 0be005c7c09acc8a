"""The MediaPipe selfie segmenter (people; CPU; a few ms per frame), run by LiteRT or MediaPipe Tasks."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.errors import ModelError
from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.segment.models import bundled_model, verify_sha256


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence MediaPipe's C++ start-up chatter (glog/TFLite INFO lines) written straight to fd 2."""
    if os.environ.get("RTSEG_DEBUG"):
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


class SelfieVariant(StrEnum):
    AUTO = "auto"
    SQUARE = "square"
    LANDSCAPE = "landscape"


MODEL_FILES = {
    SelfieVariant.SQUARE: ("selfie_segmentation.tflite", (256, 256)),
    SelfieVariant.LANDSCAPE: ("selfie_segmentation_landscape.tflite", (256, 144)),
}

LANDSCAPE_MIN_ASPECT = 1.5
"""``auto`` uses the landscape model for frames at least this wide (16:9 is 1.78, 4:3 is 1.33)."""


def choose_variant(width: int, height: int) -> SelfieVariant:
    """The model ``selfie`` (auto) uses for a frame size.

    >>> choose_variant(1280, 720).value, choose_variant(640, 480).value
    ('landscape', 'square')
    """
    return SelfieVariant.LANDSCAPE if width / height >= LANDSCAPE_MIN_ASPECT else SelfieVariant.SQUARE


class SelfieRuntime(StrEnum):
    """What runs the selfie model. Both run the same ``.tflite`` file on TFLite's XNNPACK CPU kernels.

    * ``litert``: the LiteRT interpreter (``ai-edge-litert``) called directly: the bilinear resize
      to the model's input is rtseg's own, and the model's output is the mask. 0.9-1.0 ms of CPU
      less per call than MediaPipe here (square 4.6 against 5.5 ms, landscape 2.0 against 3.0),
      which spends that in its graph (image-to-tensor warp, mask resize, packet copies).
    * ``mediapipe``: MediaPipe Tasks' ``ImageSegmenter`` (the reference; the masks agree with
      LiteRT's within 1e-4, ``tests/test_selfie_runtimes.py``).
    * ``auto``: LiteRT when it is installed (a default dependency), else MediaPipe.
    """

    AUTO = "auto"
    LITERT = "litert"
    MEDIAPIPE = "mediapipe"


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


class _Unsupported(Exception):
    """A model file whose input is not float RGB (MediaPipe handles it)."""


class _LiteRtModel:
    """One selfie model in a LiteRT interpreter: RGB uint8 at the model's size in, alpha out."""

    def __init__(self, model: bytes, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            self._it = Interpreter(model_content=model, num_threads=threads)
            self._it.allocate_tensors()
        inp, out = self._it.get_input_details()[0], self._it.get_output_details()[0]
        shape = tuple(int(v) for v in inp["shape"])
        if inp["dtype"] is not np.float32 or len(shape) != 4 or shape[3] != 3:
            raise _Unsupported(f"input {shape} {np.dtype(inp['dtype']).name}")
        self._in, self._out = int(inp["index"]), int(out["index"])
        self._buf = np.empty(shape, np.float32)
        self.size = (shape[2], shape[1])
        """(width, height) of the model's input."""
        with quiet_native_stderr():
            self.run(np.zeros((shape[1], shape[2], 3), np.uint8))

    def run(self, small: np.ndarray) -> np.ndarray:
        # MediaPipe's input normalisation for this model: 0..255 → 0..1 (float32).
        np.multiply(small, np.float32(1.0 / 255.0), out=self._buf[0], casting="unsafe")
        self._it.set_tensor(self._in, self._buf)
        self._it.invoke()
        return np.array(self._it.get_tensor(self._out)[0, ..., 0], dtype=np.float32)

    def close(self) -> None:
        self._it = None  # type: ignore[assignment]


class _MediaPipeModel:
    """One selfie model in a MediaPipe Tasks ImageSegmenter (confidence mask at the input's size)."""

    def __init__(self, model: bytes, size: tuple[int, int]) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision  # heavy import: only when used

        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_buffer=model),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        self._mp = mp
        with quiet_native_stderr():
            self._seg = vision.ImageSegmenter.create_from_options(options)
            # The first inference prints the XNNPACK delegate line; run it silently now.
            w, h = size
            self.run(np.zeros((h, w, 3), np.uint8))

    def run(self, small: np.ndarray) -> np.ndarray:
        mp = self._mp
        result = self._seg.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small)))
        mask = result.confidence_masks[0].numpy_view()
        return np.array(mask[..., 0] if mask.ndim == 3 else mask, dtype=np.float32)

    def close(self) -> None:
        self._seg.close()


class SelfieSegmenter:
    """MediaPipe selfie segmentation: person alpha at model resolution (256x256 or 256x144).

    The frame is resized to the model input once here (bilinear, as MediaPipe's own
    image-to-tensor), so MediaPipe does no resize of its own, and the mask comes back at model
    resolution; the segment stage upsamples it once.

    >>> import numpy as np
    >>> with SelfieSegmenter("square") as seg:  # doctest: +SKIP
    ...     seg.infer(np.zeros((720, 1280, 3), np.uint8)).shape
    (256, 256)
    """

    def __init__(self, variant: SelfieVariant | str = SelfieVariant.AUTO, model_path: str | Path | None = None,
                 model_sha256: str | None = None, *, runtime: SelfieRuntime | str = SelfieRuntime.AUTO,
                 threads: int | None = None) -> None:
        self.variant = SelfieVariant(variant)
        self.runtime = SelfieRuntime(runtime)
        if self.runtime is SelfieRuntime.AUTO:
            self.runtime = SelfieRuntime.LITERT if litert_available() else SelfieRuntime.MEDIAPIPE
        self.threads = threads or 1
        """LiteRT interpreter threads (1: the least CPU per frame; the pipeline already runs stages in parallel)."""
        self.model_path = Path(model_path) if model_path else None
        self.model_sha256 = model_sha256
        self.name = "selfie" if self.variant is SelfieVariant.AUTO else f"selfie-{self.variant.value}"
        self._segmenter: Any = None
        self._active: SelfieVariant | None = None
        self._input_size: tuple[int, int] = (0, 0)
        self._loaded: dict[SelfieVariant, Any] = {}

    def __enter__(self) -> SelfieSegmenter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, info: StreamInfo | None = None) -> None:
        """Load the model (a fixed variant now; ``auto`` on the first frame, by its shape).

        Opening again (the next video of a batch worker) keeps what is loaded: ``auto`` picks its
        variant afresh from the next first frame, from the models already in memory.
        """
        self._segmenter, self._active = None, None
        if self.variant is not SelfieVariant.AUTO or self.model_path is not None:
            self._load(SelfieVariant.SQUARE if self.variant is SelfieVariant.AUTO else self.variant)
        elif not self._loaded:
            # Fail early on a corrupt install even though the variant is picked on the first frame.
            for filename, _ in MODEL_FILES.values():
                bundled_model(filename)

    def _load(self, variant: SelfieVariant) -> None:
        filename, size = MODEL_FILES[variant]
        if variant in self._loaded:
            self._segmenter, self._active, self._input_size = self._loaded[variant], variant, size
            return
        if self.model_path is not None:
            path = self.model_path
            if not path.is_file():
                raise ModelError(f"model file not found: {path}")
            if self.model_sha256:
                verify_sha256(path, self.model_sha256)
        else:
            path = bundled_model(filename)
        segmenter: _LiteRtModel | _MediaPipeModel | None = None
        try:
            if self.runtime is SelfieRuntime.LITERT:
                try:
                    segmenter = _LiteRtModel(path.read_bytes(), self.threads)
                    size = segmenter.size
                except _Unsupported:
                    segmenter = None
            if segmenter is None:
                segmenter = _MediaPipeModel(path.read_bytes(), size)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.runtime.value} cannot load {path}: {exc}") from exc
        self._loaded[variant] = segmenter
        self._segmenter, self._active, self._input_size = segmenter, variant, size

    @property
    def active_variant(self) -> SelfieVariant | None:
        return self._active

    def segment(self, frame: Frame) -> MaskResult:
        return MaskResult(frame.index, self.infer(frame.image))

    def reset(self) -> None:
        """Nothing is carried between frames; the loaded model stays."""

    def infer(self, image: np.ndarray) -> np.ndarray:
        """Person alpha of an RGB uint8 image at the model's resolution (float32, 0..1)."""
        if self._segmenter is None:
            h, w = image.shape[:2]
            self._load(choose_variant(w, h) if self.variant is SelfieVariant.AUTO else self.variant)
        small = cv2.resize(image, self._input_size, interpolation=cv2.INTER_LINEAR)
        return self._segmenter.run(small)

    def close(self) -> None:
        loaded, self._loaded = self._loaded, {}
        self._segmenter, self._active = None, None
        for seg in loaded.values():
            seg.close()
