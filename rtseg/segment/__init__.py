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


def create_segmenter(model: str) -> Segmenter:
    """Build a segmenter by model name (``selfie``, ``selfie-square``, ``selfie-landscape``)."""
    if model in SELFIE_MODELS:
        return SelfieSegmenter(SELFIE_MODELS[model])
    raise ConfigError(f"unknown model {model!r}; expected one of: {', '.join(SELFIE_MODELS)}")


__all__ = ["SELFIE_MODELS", "SegmentStage", "Segmenter", "SelfieSegmenter", "SelfieVariant",
           "create_segmenter", "upsample_alpha"]
