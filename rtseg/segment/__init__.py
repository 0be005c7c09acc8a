"""Segmenters: one protocol, one registry (MediaPipe selfie, its ROI pass, SAM 2), and the segment stage."""

from __future__ import annotations

from rtseg.segment.base import EveryKth, NewestFrame, Schedule, Segmenter
from rtseg.segment.registry import MODELS, ModelEntry, ModelOptions, create_segmenter, model_entry, model_names
from rtseg.segment.selfie import SelfieSegmenter, SelfieVariant
from rtseg.segment.stage import SegmentStage

__all__ = ["MODELS", "EveryKth", "ModelEntry", "ModelOptions", "NewestFrame", "Schedule", "SegmentStage",
           "Segmenter", "SelfieSegmenter", "SelfieVariant", "create_segmenter", "model_entry", "model_names"]
