"""Typed job configuration, loadable from TOML presets (``configs/*.toml``) and CLI options.

Every CLI option has a key here; unknown keys are rejected by name.

>>> cfg = JobConfig.model_validate({"command": "blur", "input": "in.mp4", "output": "out.mp4"})
>>> cfg.effect.strength
25.0
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rtseg.errors import ConfigError

if TYPE_CHECKING:
    from rtseg.effects.refine import RefineOptions
    from rtseg.segment.base import Segmenter
    from rtseg.temporal.smoothing import SmoothingOptions


class Command(StrEnum):
    BLUR = "blur"
    REPLACE = "replace"
    CUTOUT = "cutout"
    SEGMENT = "segment"
    OVERLAY = "overlay"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Strict):
    name: str = "selfie"
    """``selfie`` (square or landscape by aspect ratio), ``selfie-square``, ``selfie-landscape``; live mode
    also takes ``sam2`` (with an exported model directory)."""
    file: str | None = None
    """A model file to use instead of the bundled one (same architecture)."""
    sha256: str | None = None
    """Expected sha256 of ``file``; checked before loading."""


class MaskConfig(_Strict):
    """How the raw model output becomes the alpha the composite uses (see benchmarks/quality.py)."""

    roi: bool = True
    """Second model pass on a square crop around the person (tracked from the previous frame)."""
    roi_margin: float = Field(0.15, ge=0, le=1)
    redetect_every: int = Field(15, ge=1)
    smoothing: str = "motion"
    """none | ema | uncertainty | motion (uncertainty-weighted, gated by image motion)."""
    smoothing_ratio: float = Field(0.85, ge=0, le=1)
    ema_weight: float = Field(0.5, gt=0, le=1)
    motion_threshold: float = Field(120.0, gt=0)
    low: float = Field(0.1, ge=0, lt=1)
    high: float = Field(0.9, gt=0, le=1)
    """Output ramp: alpha below ``low`` → 0, above ``high`` → 1, linear (soft) in between."""
    refine: str = "none"
    """none | feather | guided (guided filter at 1/``refine_scale`` with the frame as guide)."""
    refine_radius: int = Field(4, ge=1, le=64)
    refine_eps: float = Field(1e-3, gt=0)
    refine_scale: int = Field(4, ge=1, le=16)
    infer_every: int = Field(1, ge=1, le=1000)
    """Run the model on every K-th frame only and move the newest mask onto the frames between with
    optical flow (deterministic; ``--infer-every K``)."""

    @field_validator("smoothing")
    @classmethod
    def _smoothing(cls, v: str) -> str:
        from rtseg.temporal.smoothing import SmoothingMode

        SmoothingMode(v)
        return v

    @field_validator("refine")
    @classmethod
    def _refine(cls, v: str) -> str:
        from rtseg.effects.refine import RefineMode

        RefineMode(v)
        return v

    def smoothing_options(self) -> SmoothingOptions:
        from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions

        return SmoothingOptions(SmoothingMode(self.smoothing), self.smoothing_ratio, self.ema_weight,
                                self.motion_threshold, self.low, self.high)

    def refine_options(self) -> RefineOptions:
        from rtseg.effects.refine import RefineMode, RefineOptions

        return RefineOptions(RefineMode(self.refine), self.refine_radius, self.refine_eps, self.refine_scale)

    def segmenter_factory(self, model: str, file: str | None = None,
                          sha256: str | None = None) -> Callable[[], Segmenter]:
        from rtseg.segment import SELFIE_MODELS, create_segmenter
        from rtseg.segment.roi import RoiSegmenter

        def make() -> Segmenter:
            if self.roi and model in SELFIE_MODELS:
                return RoiSegmenter(SELFIE_MODELS[model], margin=self.roi_margin,
                                    redetect_every=self.redetect_every, model_path=file, model_sha256=sha256)
            return create_segmenter(model, file, sha256)

        return make


class EffectConfig(_Strict):
    strength: float = Field(25.0, ge=0, le=200)
    """Background blur sigma in pixels at the frame's resolution."""
    background: str | None = None
    """Replacement background: an image, a video (looped) or ``#RRGGBB``."""
    light_wrap: float = Field(0.0, ge=0, le=1)
    """Replacement only: how much background light spills over the person's edge (0 = off)."""
    halo_free: bool = True
    """Weight the person out of the background blur so it does not smear into it."""
    overlay_colour: str = "#00ff00"
    overlay_opacity: float = Field(0.5, ge=0, le=1)


class EncoderConfig(_Strict):
    codec: str | None = None
    """Video codec; default by output name (H.264 for .mp4/.mkv/.mov, VP9 for .webm, ProRes 4444 for cutout .mov)."""
    crf: int | None = Field(None, ge=0, le=63)
    preset: str | None = None


class RunConfig(_Strict):
    progress: bool = True
    stats_json: str | None = None
    queue_size: int = Field(4, ge=1, le=256)
    debug: bool = False


class JobConfig(_Strict):
    command: Command
    input: str
    output: str | None = None
    masks: str | None = None
    """Also (or, for ``segment``, only) write one alpha PNG per frame into this folder."""
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    mask: MaskConfig = Field(default_factory=lambda: MaskConfig())
    effect: EffectConfig = Field(default_factory=lambda: EffectConfig())
    encoder: EncoderConfig = Field(default_factory=lambda: EncoderConfig())
    run: RunConfig = Field(default_factory=lambda: RunConfig())

    @field_validator("input")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("input must not be empty")
        return v

    def check(self) -> JobConfig:
        """Cross-field rules that a TOML file or the CLI can break."""
        if self.command is Command.SEGMENT and not self.masks:
            raise ConfigError("segment needs a masks folder (--masks DIR / masks = \"DIR\")")
        if self.command is not Command.SEGMENT and not self.output and not self.masks:
            raise ConfigError(f"{self.command.value} needs an output (-o OUTPUT / output = \"...\")")
        if self.command is Command.REPLACE and not self.effect.background:
            raise ConfigError("replace needs a background (--background IMAGE|VIDEO|#RRGGBB)")
        return self


def format_validation_error(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        elif err["type"] == "missing":
            parts.append(f"missing key '{loc}'")
        else:
            parts.append(f"'{loc}': {err['msg']} (got {err.get('input')!r})")
    return f"{source}: " + "; ".join(parts)


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base`` (None values in ``override`` are ignored)."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, dict):
            out[key] = merge({}, value)
        else:
            out[key] = value
    return out


def build_config(data: dict[str, Any], source: str = "config") -> JobConfig:
    try:
        return JobConfig.model_validate(data).check()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None

