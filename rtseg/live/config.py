"""Typed configuration of ``rtseg webcam`` (TOML presets in ``configs/webcam-*.toml``, CLI options).

>>> cfg = LiveConfig.model_validate({"source": {"file": "clip.mp4", "realtime": True}, "output": {"null": True}})
>>> cfg.effect.strength, cfg.flow.queue_size
(25.0, 2)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rtseg.config import MaskConfig, ModelConfig, format_validation_error
from rtseg.errors import ConfigError
from rtseg.sinks.vcam import VcamFormat
from rtseg.sources.camera import CameraBackend


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EffectMode(StrEnum):
    BLUR = "blur"
    REPLACE = "replace"
    NONE = "none"


class LiveSourceConfig(_Strict):
    """A camera (``device``) or a file replayed as one (``file`` + ``realtime``)."""

    device: int | str | None = None
    """Camera index (0, 1, …) or path (/dev/video2). Default: camera 0 when no ``file`` is given."""
    file: str | None = None
    realtime: bool = False
    loop: bool = True
    """Replay: restart the file at its end (a camera never ends); ``duration`` ends the run."""
    speed: float = Field(1.0, gt=0, le=100)
    width: int | None = Field(1280, gt=0)
    height: int | None = Field(720, gt=0)
    fps: float | None = Field(30.0, gt=0, le=1000)
    fourcc: str | None = "MJPG"
    mirror: bool = False
    backend: CameraBackend = CameraBackend.AUTO
    reconnect: bool = True
    retry_interval_s: float = Field(1.0, gt=0)


class LiveEffectConfig(_Strict):
    mode: EffectMode = EffectMode.BLUR
    strength: float = Field(25.0, ge=0, le=200)
    backgrounds: list[str] = Field(default_factory=list)
    """Replacement backgrounds (image, looped video, #RRGGBB); the ``b`` hotkey cycles through them."""
    halo_free: bool = True
    fail_closed_ms: float | None = Field(None, gt=0)
    """Privacy: blur the whole frame when no fresh mask has arrived for this long."""


class FlowConfig(_Strict):
    queue_size: int = Field(2, ge=1, le=16)
    """Frames buffered between live stages (drop-oldest)."""
    max_wait_ms: float | None = Field(None, ge=0, le=1000)
    """How long a frame admitted to inference waits for its own mask before using the newest one
    (default: 20 ms for the selfie models, which usually make it; 0 for SAM 2, which never does)."""
    max_in_queue: int = Field(0, ge=0, le=4)
    """Frames waiting behind the one in inference (0: MediaPipe's default, drop at once)."""
    cv_threads: int | None = Field(1, ge=0, le=64)
    """``cv2.setNumThreads`` for the live run (1: the stages already run in parallel threads)."""


class LiveModelConfig(ModelConfig):
    """The segmenter: a selfie model, or ``sam2`` with an exported model directory (``dir``)."""

    dir: str | None = None
    """SAM 2: the directory ``rtseg export-sam2`` wrote."""
    threads: int | None = Field(1, ge=0, le=64)
    """SAM 2: ONNX Runtime intra-op threads (1 leaves the other core to the camera path; 0 = ORT's default)."""
    device: str = "cpu"
    """SAM 2: auto | cpu | cuda | tensorrt."""

    @property
    def is_sam2(self) -> bool:
        return self.name == "sam2"


class PromptConfig(_Strict):
    """SAM 2's starting prompt, applied to the first frame (video pixels). Clicks in the preview
    window add more (left: include, right: exclude; ``c`` clears)."""

    points: list[tuple[float, float]] = Field(default_factory=list)
    labels: list[int] = Field(default_factory=list)
    """1 include, 0 exclude, one per point (default: all 1)."""
    box: tuple[float, float, float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> PromptConfig:
        if self.labels and len(self.labels) != len(self.points):
            raise ValueError(f"prompt: {len(self.points)} points but {len(self.labels)} labels")
        if any(v not in (0, 1) for v in self.labels):
            raise ValueError(f"prompt labels must be 0 (exclude) or 1 (include), got {self.labels}")
        return self

    @property
    def point_labels(self) -> list[int]:
        return list(self.labels) if self.labels else [1] * len(self.points)

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None


class CarryConfig(_Strict):
    """Carry-forward: the newest mask moved onto each camera frame by optical flow."""

    enabled: bool = True
    """False holds the newest mask unmoved (the stale baseline)."""
    flow_width: int = Field(640, ge=32, le=1920)
    """Width of the grey images DIS optical flow (ULTRAFAST preset) runs on."""
    mask_width: int = Field(320, ge=32, le=4096)
    """Width the mask is moved at (then resized to the frame). The models' own masks are coarser
    (selfie 256x144, SAM 2 128x128 logits), so the flow's width loses nothing and saves a map resize."""
    blend_frames: int = Field(2, ge=0, le=30)
    """A fresh mask replacing a carried one fades in over this many frames."""
    history: int = Field(96, ge=1, le=1000)
    """Frames of flow kept, so a mask this many frames late can still be moved."""


class AdaptiveConfig(_Strict):
    """``--target-fps`` / ``--cpu-budget``: adapt the inference interval and input scale."""

    target_fps: float | None = Field(None, gt=0, le=1000)
    cpu_budget: float | None = Field(None, gt=0, le=6400)
    """Process CPU percent to stay under (100 = one core)."""
    period_s: float = Field(2.0, gt=0, le=60)
    max_interval: int = Field(8, ge=1, le=120)

    @property
    def enabled(self) -> bool:
        return self.target_fps is not None or self.cpu_budget is not None


class LiveOutputConfig(_Strict):
    vcam: bool = False
    vcam_device: str | None = None
    vcam_backend: str | None = None
    vcam_format: VcamFormat = VcamFormat.AUTO
    preview: bool = False
    record: str | None = None
    null: bool = False

    @property
    def any(self) -> bool:
        return self.vcam or self.preview or self.null or self.record is not None


class LiveRunConfig(_Strict):
    duration: float | None = Field(None, gt=0)
    stats_json: str | None = None
    status: bool = True
    status_interval: float = Field(2.0, gt=0)
    debug: bool = False


class LiveConfig(_Strict):
    command: Literal["webcam"] = "webcam"
    source: LiveSourceConfig = Field(default_factory=LiveSourceConfig)
    model: LiveModelConfig = Field(default_factory=LiveModelConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    mask: MaskConfig = Field(default_factory=lambda: MaskConfig())
    """Selfie models: the same mask path as files (ROI pass, smoothing, refinement; ``[mask]``)."""
    carry: CarryConfig = Field(default_factory=CarryConfig)
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    effect: LiveEffectConfig = Field(default_factory=LiveEffectConfig)
    flow: FlowConfig = Field(default_factory=FlowConfig)
    output: LiveOutputConfig = Field(default_factory=LiveOutputConfig)
    run: LiveRunConfig = Field(default_factory=LiveRunConfig)

    @model_validator(mode="after")
    def _check(self) -> LiveConfig:
        s = self.source
        if s.file is not None and s.device is not None:
            raise ValueError(f"give a camera or a file, not both (device={s.device!r}, file={s.file!r})")
        if s.file is not None and not s.realtime:
            raise ValueError(f"a file in live mode must be replayed in real time: add --realtime (file={s.file!r}); "
                             "for offline processing use `rtseg blur FILE -o OUT`")
        if self.effect.mode is EffectMode.REPLACE and not self.effect.backgrounds:
            raise ValueError("replace needs a background (--background IMAGE|VIDEO|#RRGGBB)")
        if self.model.is_sam2 and not self.model.dir:
            raise ValueError("--model sam2 needs --model-dir DIR (a directory written by `rtseg export-sam2`)")
        if not self.model.is_sam2 and not self.prompt.empty:
            raise ValueError(f"point/box prompts need --model sam2 (model is {self.model.name!r})")
        return self

    @property
    def max_wait_s(self) -> float:
        if self.flow.max_wait_ms is not None:
            return self.flow.max_wait_ms / 1000
        return 0.0 if self.model.is_sam2 else 0.02

    @property
    def source_label(self) -> str:
        if self.source.file is not None:
            return self.source.file
        return str(self.source.device if self.source.device is not None else 0)


def build_live_config(data: dict[str, Any], source: str = "command line") -> LiveConfig:
    """Validate ``data``; errors become one :class:`~rtseg.errors.ConfigError` naming each bad key."""
    try:
        return LiveConfig.model_validate(data)
    except ValidationError as exc:
        top = [e["msg"].removeprefix("Value error, ") for e in exc.errors() if not e["loc"]]
        if top:
            raise ConfigError(f"{source}: " + "; ".join(top)) from None
        raise ConfigError(format_validation_error(exc, source)) from None
