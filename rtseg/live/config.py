"""Typed configuration of ``rtseg webcam`` (TOML presets in ``configs/webcam-*.toml``, CLI options).

>>> cfg = LiveConfig.model_validate({"source": {"file": "clip.mp4", "realtime": True}, "output": {"null": True}})
>>> cfg.effect.strength, cfg.flow.queue_size
(25.0, 2)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rtseg.config import ModelConfig, format_validation_error
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
    max_wait_ms: float = Field(20.0, ge=0, le=1000)
    """How long a frame admitted to inference waits for its own mask before using the newest one."""
    max_in_queue: int = Field(0, ge=0, le=4)
    """Frames waiting behind the one in inference (0: MediaPipe's default, drop at once)."""
    cv_threads: int | None = Field(1, ge=0, le=64)
    """``cv2.setNumThreads`` for the live run (1: the stages already run in parallel threads)."""


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
    model: ModelConfig = Field(default_factory=ModelConfig)
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
        return self

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
