"""Typed options of ``rtseg bench`` (from the command line and/or a scenario TOML in ``benchmarks/``)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from rtseg.bench.baseline import BaselineBlur
from rtseg.effects.blur import DEFAULT_STRENGTH
from rtseg.errors import ConfigError
from rtseg.jobs.loading import format_validation_error, load_toml
from rtseg.jobs.spec import checked

_SIZE = re.compile(r"^(\d+)x(\d+)$")


class Workload(StrEnum):
    """What a benchmark run measures."""

    FILE_BLUR_720P = "file-blur-720p"
    """File → segment → blur → H.264 file, every frame (block queues). Baseline: the tutorial loop."""
    FILE_SEGMENT = "file-segment"
    """File → segment (+ mask stage when present) → null sink. Baseline: read + segment loop."""
    LIVE_720P30 = "live-720p30"
    """Realtime 30 fps replay → segment → blur → null sink, drop-oldest queues: latency and drops."""
    LIVE_1080P30 = "live-1080p30"
    """The same at 1920x1080: the input clip scaled up once (bilinear, CRF 18) and replayed at 30 fps."""
    EFFECTS = "effects"
    """Each effect alone on 720p frames with real alphas: milliseconds per frame."""
    SAM2 = "sam2"
    """SAM 2 tracker per-graph cost (only with ``--sam2-model-dir``)."""


DEFAULT_WORKLOADS = list(Workload)
"""What ``rtseg bench`` without workloads runs: every workload."""


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` → ``(1280, 720)``.

    >>> parse_size("640x360")
    (640, 360)
    """
    m = _SIZE.match(text.strip())
    if not m or int(m.group(1)) < 16 or int(m.group(2)) < 16:
        raise ConfigError(f"expected a frame size like 1280x720 (at least 16x16), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _each_size(texts: list[str]) -> list[str]:
    for text in texts:
        parse_size(text)
    return texts


FrameSize = Annotated[str, checked(parse_size)]
"""A frame size written ``WIDTHxHEIGHT`` (at least 16x16), checked by :func:`parse_size`."""
FrameSizes = Annotated[list[str], AfterValidator(_each_size)]
"""Frame sizes, each checked by :func:`parse_size` (an error names the list, as the key to fix)."""


class BenchOptions(BaseModel):
    """Everything one ``rtseg bench`` invocation does. Unknown keys are rejected by name.

    >>> opts = BenchOptions.model_validate({"workloads": ["file-blur-720p"], "repeat": 1})
    >>> opts.workloads[0] is Workload.FILE_BLUR_720P, opts.synthetic_size
    (True, '1280x720')
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    workloads: list[Workload] = Field(default_factory=lambda: list(DEFAULT_WORKLOADS))
    input: str | None = None
    """A real clip for the file and live workloads; None renders a synthetic clip once per run."""
    synthetic_size: FrameSize = "1280x720"
    synthetic_frames: int = Field(240, ge=1)
    repeat: int = Field(3, ge=1, le=50)
    """Measured repetitions per implementation; rtseg and baseline alternate (ABBA order)."""
    warmup: int = Field(1, ge=0, le=10)
    """Unrecorded runs of each implementation before the measured ones."""
    baseline: bool = True
    """Also run the tutorial loop and report rtseg's speed-up over it."""
    baseline_blur: BaselineBlur = BaselineBlur.KERNEL
    """The tutorial loop's kernel: ``kernel`` (2·strength+1 taps, the tutorials' form) or ``sigma``."""
    strength: float = Field(DEFAULT_STRENGTH, ge=0, le=200)
    crf: int | None = Field(None, ge=0, le=51)
    preset: str | None = None
    live_seconds: float = Field(10.0, gt=0)
    live_fps: float = Field(30.0, gt=0)
    effects_frames: int = Field(30, ge=1)
    scaling: bool = False
    """Also sweep resolution and blur strength (file-blur on synthetic clips)."""
    scaling_sizes: FrameSizes = Field(default_factory=lambda: ["640x360", "960x540", "1280x720", "1920x1080"])
    scaling_strengths: list[float] = Field(default_factory=lambda: [5.0, 12.0, 25.0, 50.0, 100.0])
    scaling_frames: int = Field(120, ge=1)
    scaling_repeat: int = Field(2, ge=1, le=20)
    sam2_model_dir: str | None = None
    sam2_frames: int = Field(20, ge=2)

    @classmethod
    def from_sources(cls, toml_path: str | Path | None, overrides: dict[str, Any]) -> BenchOptions:
        """A scenario file (if any) with command-line values on top (None means "not given")."""
        data: dict[str, Any] = {}
        source = "command line"
        if toml_path is not None:
            data = load_toml(toml_path)
            data = data.get("bench", data)
            source = str(toml_path)
            base = Path(toml_path).resolve().parent
            for key in ("input", "sam2_model_dir"):
                # paths in a scenario file are relative to the file, so it runs from any directory
                if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                    data[key] = str((base / data[key]).resolve())
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from None
