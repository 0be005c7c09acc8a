"""Temporal processing of masks: smoothing against flicker, and the mask stage that applies it."""

from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother, uncertainty
from rtseg.temporal.stage import MaskStage

__all__ = ["MaskStage", "SmoothingMode", "SmoothingOptions", "TemporalSmoother", "uncertainty"]
