"""Temporal processing of masks: smoothing against flicker, optical-flow carry-forward, and their stages."""

from rtseg.temporal.carry import CarryOptions, FlowCarrier
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother, uncertainty
from rtseg.temporal.stage import CarryStage, MaskStage

__all__ = ["CarryOptions", "CarryStage", "FlowCarrier", "MaskStage", "SmoothingMode", "SmoothingOptions",
           "TemporalSmoother", "uncertainty"]
