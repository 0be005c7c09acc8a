"""Temporal processing of masks: smoothing against flicker and optical-flow carry-forward, and the mask stage
that smooths then refines (the edge refinement itself is spatial: :mod:`rtseg.imaging.refine`)."""

from rtseg.temporal.carry import Carrier, CarryOptions
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother, uncertainty
from rtseg.temporal.stage import CARRY_AGE, CarryStage, MaskPath, MaskStage

__all__ = ["CARRY_AGE", "Carrier", "CarryOptions", "CarryStage", "MaskPath", "MaskStage", "SmoothingMode",
           "SmoothingOptions", "TemporalSmoother", "uncertainty"]
