"""The MediaPipe selfie segmenter (people; CPU; a few ms per frame) via the Tasks ImageSegmenter."""

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
                 model_sha256: str | None = None) -> None:
        self.variant = SelfieVariant(variant)
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
        os.environ.setdefault("GLOG_minloglevel", "2")
        from mediapipe.tasks.python import BaseOptions, vision  # heavy import: only when used

        if self.model_path is not None:
            path = self.model_path
            if not path.is_file():
                raise ModelError(f"model file not found: {path}")
            if self.model_sha256:
                verify_sha256(path, self.model_sha256)
        else:
            path = bundled_model(filename)
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_buffer=path.read_bytes()),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            with quiet_native_stderr():
                segmenter = vision.ImageSegmenter.create_from_options(options)
                # The first inference prints the XNNPACK delegate line; run it silently now.
                import mediapipe as mp

                w, h = size
                segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((h, w, 3), np.uint8)))
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"MediaPipe cannot load {path}: {exc}") from exc
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
        import mediapipe as mp

        if self._segmenter is None:
            h, w = image.shape[:2]
            self._load(choose_variant(w, h) if self.variant is SelfieVariant.AUTO else self.variant)
        small = cv2.resize(image, self._input_size, interpolation=cv2.INTER_LINEAR)
        result = self._segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=small))
        mask = result.confidence_masks[0].numpy_view()
        return np.array(mask[..., 0] if mask.ndim == 3 else mask, dtype=np.float32)

    def close(self) -> None:
        loaded, self._loaded = self._loaded, {}
        self._segmenter, self._active = None, None
        for seg in loaded.values():
            seg.close()
