"""Segmenters: the Segmenter protocol, MediaPipe selfie, and (optionally) SAM 2 through ONNX Runtime."""

from __future__ import annotations

from rtseg.errors import ConfigError
from rtseg.segment.base import Segmenter, SegmentStage, upsample_alpha
from rtseg.segment.selfie import SelfieSegmenter, SelfieVariant

SELFIE_MODELS = {
    "selfie": SelfieVariant.AUTO,
    "selfie-square": SelfieVariant.SQUARE,
    "selfie-landscape": SelfieVariant.LANDSCAPE,
}


def create_segmenter(model: str, file: str | None = None, sha256: str | None = None) -> Segmenter:
    """Build a segmenter by model name (``selfie``, ``selfie-square``, ``selfie-landscape``).

    ``file`` replaces the bundled model file; ``sha256``, if given, is checked before loading.
    """
    if model in SELFIE_MODELS:
        return SelfieSegmenter(SELFIE_MODELS[model], model_path=file, model_sha256=sha256)
    raise ConfigError(f"unknown model {model!r}; expected one of: {', '.join(SELFIE_MODELS)}")


__all__ = ["SELFIE_MODELS", "SegmentStage", "Segmenter", "SelfieSegmenter", "SelfieVariant",
           "create_segmenter", "upsample_alpha"]
