"""Temporal processing of masks: smoothing against flicker, edge refinement, optical-flow carry-forward."""

from rtseg.temporal.carry import Carrier, CarryOptions
from rtseg.temporal.refine import RefineMode, RefineOptions, refine_alpha
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother, uncertainty
from rtseg.temporal.stage import CARRY_AGE, CarryStage, MaskPath, MaskStage

__all__ = ["CARRY_AGE", "Carrier", "CarryOptions", "CarryStage", "MaskPath", "MaskStage", "RefineMode",
           "RefineOptions", "SmoothingMode", "SmoothingOptions", "TemporalSmoother", "refine_alpha", "uncertainty"]
