"""The one job model: every job rtseg runs (file effects, webcam, track, batch items) is a :class:`JobSpec`.

A CLI command fills a spec from its options; a TOML file holds the same keys (``rtseg run FILE``
runs any job); the Python API builds one from keyword arguments. Unknown keys are rejected by name,
types are strict (``roi = "yes"`` is an error, not ``True``), and paths in a config file are
relative to that file.

>>> spec = JobSpec.model_validate({"command": "blur", "source": {"path": "in.mp4"},
...                                "outputs": [{"kind": "video", "path": "out.mp4"}]})
>>> spec.effect.strength == DEFAULT_STRENGTH, spec.effective_effect.value, spec.live
(True, 'blur', False)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from rtseg.controls.adaptive import MAX_INTERVAL
from rtseg.controls.adaptive import PERIOD_S as ADAPTIVE_PERIOD_S
from rtseg.controls.status import INTERVAL_S as STATUS_INTERVAL_S
from rtseg.effects.blur import DEFAULT_STRENGTH, BlurEffect
from rtseg.effects.cutout import OverlayEffect
from rtseg.errors import ConfigError
from rtseg.imaging.refine import RefineMode
from rtseg.jobs.loading import format_validation_error, load_toml
from rtseg.jobs.migrate import normalize
from rtseg.jobs.outputs import ALPHA_VIDEO_SUFFIXES, FILE_KINDS, LIVE_KINDS, OBJECT_KINDS, OutputKind
from rtseg.segment.base import NewestFrame
from rtseg.segment.gate import GateOptions
from rtseg.segment.prompts import PROMPT_KEYS, Prompt, prompt_from_dict
from rtseg.segment.providers import Provider
from rtseg.segment.registry import ModelOptions, model_entry
from rtseg.segment.selfie import SelfieRuntime
from rtseg.sources.camera import CameraOptions
from rtseg.temporal.carry import FLOW_WIDTH, HISTORY
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


Flag = StrictBool
"""true or false (not "yes", not 1)."""
Int = StrictInt
"""A whole number (not 2.5, not "2")."""
Num = Annotated[float, BeforeValidator(_number)]
"""A finite number, int or float (not "30", not NaN or infinity)."""


def checked(check: Callable[[str], object]) -> AfterValidator:
    """A text key's validator: ``check(value)`` raises (ValueError, ConfigError) on a wrong value, whose message
    is the key's error; the value is kept as given. ``Annotated[str, checked(parse_size)]``."""

    def validate(value: str) -> str:
        check(value)
        return value

    return AfterValidator(validate)


def one_of(enum: type[StrEnum]) -> AfterValidator:
    """A text key that must be one of ``enum``'s values; the error lists them (the job-key reference shows them).

    >>> from pydantic import TypeAdapter
    >>> try:
    ...     TypeAdapter(Annotated[str, one_of(SchedulePolicy)]).validate_python("sometimes")
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, expected one of auto, every, newest, got 'sometimes'
    """

    def check(value: str) -> None:
        try:
            enum(value)
        except ValueError:
            raise ValueError(f"expected one of {', '.join(e.value for e in enum)}, got {value!r}") from None

    return checked(check)


class _Strict(BaseModel):
    # The docstring under each field is its description (pydantic's ``use_attribute_docstrings``): one
    # source for the field's help, the JSON schema and the generated job-key reference of the docs site.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class JobKind(StrEnum):
    BLUR = "blur"
    REPLACE = "replace"
    CUTOUT = "cutout"
    SEGMENT = "segment"
    OVERLAY = "overlay"
    WEBCAM = "webcam"
    TRACK = "track"


class EffectKind(StrEnum):
    BLUR = "blur"
    REPLACE = "replace"
    CUTOUT = "cutout"
    OVERLAY = "overlay"
    NONE = "none"


class SchedulePolicy(StrEnum):
    AUTO = "auto"
    """``every`` for files, ``newest`` for live input."""
    EVERY = "every"
    """Segment every ``mask.infer_every``-th frame in order (deterministic)."""
    NEWEST = "newest"
    """Segment the newest frame behind a flow limiter (one in flight); every frame goes on."""


class SourceSpec(_Strict):
    """Where frames come from: a file, URL, image folder, ``sample`` or ``synthetic[:WxH][@N]`` (``path``),
    or a camera (``camera``); ``realtime`` replays ``path`` on its own clock as if it were a camera."""

    path: str | None = None
    """A video file or URL (anything FFmpeg reads), a folder of images (sorted by name), ``sample`` (the
    bundled clip) or ``synthetic[:WxH][@N]`` (generated frames)."""
    camera: Int | str | None = None
    """Camera index (0, 1, …) or device path (/dev/video2)."""
    realtime: Flag = False
    """Replay ``path`` at its native frame rate on its own clock, as if it were a camera (live jobs)."""
    loop: Flag = True
    """Replay: restart the file at its end (a camera never ends); ``run.duration`` ends the run."""
    speed: Num = Field(1.0, gt=0, le=100)
    """Replay: playback speed (2 plays twice as fast)."""
    width: Int | None = Field(CameraOptions.width, gt=0)
    """Camera: requested width in pixels (the camera may deliver another size; unset: its own)."""
    height: Int | None = Field(CameraOptions.height, gt=0)
    """Camera: requested height in pixels (unset: the camera's own)."""
    fps: Num | None = Field(CameraOptions.fps, gt=0, le=1000)
    """Camera: requested frame rate (unset: the camera's own)."""
    fourcc: str | None = CameraOptions.fourcc
    """Camera: requested pixel format, a four-character code such as MJPG or YUYV (unset: the camera's own)."""
    mirror: Flag = False
    """Mirror the image left to right (the selfie view)."""
    backend: str = "auto"
    """Camera API: auto | v4l2 | dshow | msmf | avfoundation | any."""
    reconnect: Flag = CameraOptions.reconnect
    """Camera: when it disappears, retry (the output repeats the last frame meanwhile); false ends the run
    with an error."""
    retry_interval_s: Num = Field(CameraOptions.retry_interval_s, gt=0)
    """Camera: seconds between reconnection attempts."""

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("input must not be empty")
        return v

    @property
    def live(self) -> bool:
        return self.camera is not None or self.realtime

    @property
    def label(self) -> str:
        return self.path if self.path is not None else str(self.camera if self.camera is not None else 0)


class PromptSpec(_Strict):
    """One SAM 2 prompt: points (with labels), a box or a mask PNG, for one object on one frame.

    The keys are :func:`~rtseg.segment.prompts.prompt_from_dict`'s, and the checks are
    :class:`~rtseg.segment.prompts.Prompt`'s (object id 1..255, frame >= 0, finite numbers, labels 0/1,
    an ordered box, not empty): its message is this key's error.
    """

    frame: Int = 0
    """The frame the prompt is on (0: the first)."""
    object: Int = 1
    """The object id, 1..255."""
    points: list[tuple[Num, Num]] = Field(default_factory=list)
    """Clicks ``[x, y]`` in video pixels."""
    labels: list[Int] = Field(default_factory=list)
    """1 include, 0 exclude, one per point (default: all 1)."""
    box: tuple[Num, Num, Num, Num] | None = None
    """A box ``[x0, y0, x1, y1]`` around the object, in video pixels."""
    mask: str | None = None
    """A mask PNG of the object (its non-zero pixels), at the video's size."""
    add: Flag = False
    """The points join the object's earlier points on this frame (clicks made one after another)."""

    @model_validator(mode="before")
    @classmethod
    def _a_prompt(cls, data: Any) -> Any:
        # Before the fields, so a NaN or a wrong label gets Prompt's message, not a type's; unknown keys are
        # left to extra="forbid", which names them.
        if isinstance(data, dict) and set(data) <= set(PROMPT_KEYS):
            try:
                prompt_from_dict(data)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return data

    def to_prompt(self) -> Prompt:
        """The :class:`~rtseg.segment.prompts.Prompt` these keys describe."""
        return prompt_from_dict(self.model_dump())


DEFAULT_MODEL = "selfie"
"""The model a job uses when it names none (the job key ``model.name``, the Python API's ``model=``)."""


class ModelSpec(_Strict):
    """Which model segments the frames and how it runs: the bundled selfie models, or SAM 2 / EdgeTAM
    exports (with their prompts) on an ONNX Runtime provider."""

    name: Annotated[str, checked(model_entry)] = DEFAULT_MODEL
    """A model of the registry (``rtseg devices`` lists them with what each is)."""
    file: str | None = None
    """Selfie: a model file to use instead of the bundled one (same architecture)."""
    sha256: str | None = None
    """Expected sha256 of ``file``; checked before loading."""
    dir: str | None = None
    """SAM 2: the directory ``rtseg export-sam2`` wrote."""
    threads: Int | None = Field(None, ge=0, le=64)
    """SAM 2: ONNX Runtime intra-op threads (0 or unset: its default; live default 1)."""
    provider: Annotated[str, checked(Provider.parse)] = ModelOptions.provider
    """SAM 2: ONNX Runtime execution provider: auto | tensorrt | cuda | cpu."""
    trt_cache: str | None = None
    """SAM 2 on TensorRT: a directory for the built engines and timing cache (reused on the next start)."""
    fp16: Flag = False
    """SAM 2 on TensorRT: build fp16 engines from the float32 graphs."""
    runtime: Annotated[str, one_of(SelfieRuntime)] = ModelOptions.runtime
    """Selfie: what runs the model: auto (LiteRT if installed) | litert | mediapipe."""
    prompts: list[PromptSpec] = Field(default_factory=list)
    prompts_file: str | None = None
    """SAM 2: a JSON list of prompts ({"frame", "object", "points", "labels", "box", "mask"})."""

    @property
    def tracks_objects(self) -> bool:
        return model_entry(self.name).tracks_objects


class CarrySpec(_Strict):
    """Carry-forward: the newest mask moved onto frames without their own by optical flow."""

    enabled: Flag = True
    """False holds the newest mask unmoved (the stale baseline; live only)."""
    flow_width: Int = Field(FLOW_WIDTH, ge=32, le=1920)
    """Width of the grey images DIS optical flow (ULTRAFAST preset) runs on."""
    mask_width: Int | None = Field(None, ge=32, le=4096)
    """Width the mask is moved at (default: 320 live, the frame's width on files)."""
    blend_frames: Int | None = Field(None, ge=0, le=30)
    """A fresh mask replacing a carried one fades in over this many frames (default: 2 live, 1 files)."""
    history: Int = Field(HISTORY, ge=1, le=1000)
    """Frames of flow kept, so a mask this many frames late can still be moved."""


class MaskSpec(_Strict):
    """How the raw model output becomes the alpha the composite uses (see benchmarks/quality.py).

    ROI and smoothing apply to the selfie models; SAM 2's masks are used as the model gives them.
    """

    roi: Flag = ModelOptions.roi
    """Second model pass on a square crop around the person (tracked from the previous frame)."""
    roi_margin: Num = Field(ModelOptions.roi_margin, ge=0, le=1)
    """ROI: the crop is the box around the previous mask grown by this fraction of its size on each side."""
    redetect_every: Int = Field(ModelOptions.redetect_every, ge=1)
    """ROI: a full-frame pass at least every this many frames, so people entering the frame are found."""
    smoothing: Annotated[str, one_of(SmoothingMode)] = SmoothingOptions.mode.value
    """none | ema | uncertainty | motion (uncertainty-weighted, gated by image motion)."""
    smoothing_ratio: Num = Field(0.85, ge=0, le=1)
    """uncertainty and motion smoothing: the largest weight on the previous mask, given to uncertain
    pixels (MediaPipe's selfie graph uses 0.7)."""
    ema_weight: Num = Field(SmoothingOptions.ema_weight, gt=0, le=1)
    """ema smoothing: the weight of the new mask (the previous one gets the rest)."""
    motion_threshold: Num = Field(SmoothingOptions.motion_threshold, gt=0)
    """motion smoothing: the grey-level change (0..255, blurred) at which the previous mask is ignored."""
    low: Num = Field(0.1, ge=0, lt=1)
    """Output ramp: alpha below ``low`` → 0 (see ``high``)."""
    high: Num = Field(0.9, gt=0, le=1)
    """Output ramp: alpha below ``low`` → 0, above ``high`` → 1, linear (soft) in between."""
    refine: Annotated[str, one_of(RefineMode)] = "edge"
    """edge (colour-guided edge snap around the uncertain band, then a steep ramp) | none | feather |
    guided (guided filter at 1/``refine_scale`` with the frame as guide, soft)."""
    refine_radius: Int | None = Field(None, ge=1, le=64)
    """Guided-filter window radius (unset: 8 for edge, 4 for guided)."""
    refine_eps: Num | None = Field(None, gt=0)
    """Guided-filter regularisation on 0..1 intensities (unset: 1e-4 for edge, 1e-3 for guided)."""
    refine_scale: Int = Field(4, ge=1, le=16)
    """guided refinement: the filter runs at 1/``refine_scale`` of the frame size."""
    infer_every: Int = Field(1, ge=1, le=1000)
    """Files: run the model on every K-th frame only; optical flow moves the mask onto the frames between."""
    gate: Num | None = Field(None, ge=0, le=255)
    """Selfie models: skip the model on a frame when no region (16x9 grid) changed by more than this
    many grey levels since the last segmented frame; the mask is carried onto it. 0: off; unset:
    4 live, off for files."""
    gate_max_skip: Int = Field(GateOptions.max_skip, ge=0, le=1000)
    """Frames in a row the gate may skip."""
    carry: CarrySpec = Field(default_factory=CarrySpec)


class ScheduleSpec(_Strict):
    """When the model runs: which frames are segmented, how long a live frame waits for its own mask, and
    the adaptive controller that holds a frame rate or a CPU budget."""

    policy: SchedulePolicy = SchedulePolicy.AUTO
    """auto (every for files, newest for live input) | every (every ``mask.infer_every``-th frame, in order,
    deterministic) | newest (the newest frame behind a flow limiter, one in flight; every frame goes on)."""
    max_wait_ms: Num | None = Field(None, ge=0, le=1000)
    """Live: how long a frame admitted to inference waits for its own mask before using the newest one
    (default: 20 ms for the selfie models, which usually make it; 0 for SAM 2, which never does)."""
    max_in_queue: Int = Field(NewestFrame.max_in_queue, ge=0, le=4)
    """Live: frames waiting behind the one in inference (0: MediaPipe's default, drop at once)."""
    target_fps: Num | None = Field(None, gt=0, le=1000)
    """Live, adaptive: infer less often / on smaller input to hold this output frame rate."""
    cpu_budget: Num | None = Field(None, gt=0, le=6400)
    """Live, adaptive: keep process CPU under this percent (100 = one core)."""
    adaptive_period_s: Num = Field(ADAPTIVE_PERIOD_S, gt=0, le=60)
    """Live, adaptive: seconds between the controller's measurements (and its decisions)."""
    max_interval: Int = Field(MAX_INTERVAL, ge=1, le=120)
    """Live, adaptive: the most frames per inference the controller may choose before it makes the model's
    input smaller instead."""


class EffectSpec(_Strict):
    """What the mask does to the frame: blur or replace the background, cut out, tint (overlay) or nothing."""

    kind: EffectKind | None = None
    """blur | replace | cutout | overlay | none; default from the command (track: overlay, webcam: blur)."""
    strength: Num = Field(DEFAULT_STRENGTH, ge=0, le=200)
    """Background blur sigma in pixels at the frame's resolution."""
    backgrounds: list[str] = Field(default_factory=list)
    """Replacement backgrounds (image, looped video, #RRGGBB); live, the ``b`` key cycles through them."""
    light_wrap: Num = Field(0.0, ge=0, le=1)
    """Replacement only: how much background light spills over the person's edge (0 = off)."""
    halo_free: Flag = BlurEffect.halo_free
    """Weight the person out of the background blur so it does not smear into it."""
    overlay_colour: str = "#00ff00"
    """overlay: the tint colour, #RRGGBB."""
    overlay_opacity: Num = Field(OverlayEffect.opacity, ge=0, le=1)
    """overlay: how much the tint covers the segmented pixels (0: not at all, 1: solid)."""
    invert: Flag = False
    """Apply the effect to the object instead of the background (``track --effect blur-object``)."""
    fail_closed_ms: Num | None = Field(None, gt=0)
    """Live privacy: blur the whole frame when no fresh mask has arrived for this long."""
    hotkeys: Flag = True
    """Live: the preview window's keys switch effect, blur strength and background."""

    @field_validator("overlay_colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        from rtseg.effects.composite import parse_colour

        if parse_colour(v) is None:
            raise ValueError(f"must be #RRGGBB, got {v!r}")
        return v

    @field_validator("backgrounds")
    @classmethod
    def _backgrounds(cls, v: list[str]) -> list[str]:
        from rtseg.effects.composite import parse_colour

        for bg in v:
            if bg.strip().startswith("#") and parse_colour(bg) is None:
                raise ValueError(f"background colour must be #RRGGBB, got {bg!r}")
        return v


class OutputSpec(_Strict):
    """One output, a ``[[outputs]]`` table (a job has one or more): files for a file job; a virtual camera,
    preview window, recording or nothing (null) for a live job."""

    kind: OutputKind
    """Files: video | images | masks | rle | logits (rle and logits need a model that tracks objects).
    Live: vcam | preview | record | video | null."""
    path: str | None = None
    """The file or folder written; every kind but vcam, preview and null needs one."""
    vcam_device: str | None = None
    """vcam: the virtual camera device, e.g. /dev/video10 (unset: the backend's first)."""
    vcam_backend: str | None = None
    """vcam: v4l2loopback | obs | unitycapture (unset: the first that works)."""
    vcam_format: str = "auto"
    """vcam: the pixel format sent to the virtual camera: auto | rgb | bgr | i420."""

    def model_post_init(self, context: Any) -> None:
        needs_path = self.kind not in (OutputKind.VCAM, OutputKind.PREVIEW, OutputKind.NULL)
        if needs_path and not self.path:
            raise ValueError(f"a {self.kind.value} output needs a path")


class EncoderSpec(_Strict):
    """How video outputs are encoded (FFmpeg, through PyAV)."""

    codec: str | None = None
    """Video codec; default by output name (H.264 for .mp4/.mkv/.mov, VP9 for .webm, ProRes 4444 for cutout .mov)."""
    crf: Int | None = Field(None, ge=0, le=63)
    """Constant rate factor: lower is better quality and bigger files (x264 0..51, VP9 0..63; unset: the
    codec's default)."""
    preset: str | None = None
    """Encoder speed preset (x264: ultrafast … veryslow; unset: the codec's default)."""


class RunSpec(_Strict):
    """How the job runs: progress and status lines, statistics, buffering, threads and duration."""

    progress: Flag = True
    """Files: a progress bar with fps and ETA on stderr."""
    stats_json: str | None = None
    """Write the run's statistics (fps, latency, drops, CPU) to this JSON file."""
    queue_size: Int | None = Field(None, ge=1, le=256)
    """Frames buffered between stages (default: 4 on files, 2 live)."""
    duration: Num | None = Field(None, gt=0)
    """Live: stop after this many seconds."""
    status: Flag = True
    """Live: a one-line status on stderr every ``status_interval`` seconds."""
    status_interval: Num = Field(STATUS_INTERVAL_S, gt=0)
    """Live: seconds between status lines."""
    cv_threads: Int | None = Field(None, ge=0, le=64)
    """``cv2.setNumThreads`` for the run (default: 1 live, where the stages already run in parallel)."""
    debug: Flag = False
    """Errors with their traceback (default: one line)."""


DEFAULT_EFFECT = {JobKind.BLUR: EffectKind.BLUR, JobKind.REPLACE: EffectKind.REPLACE,
                  JobKind.CUTOUT: EffectKind.CUTOUT, JobKind.OVERLAY: EffectKind.OVERLAY,
                  JobKind.SEGMENT: EffectKind.NONE, JobKind.TRACK: EffectKind.OVERLAY, JobKind.WEBCAM: EffectKind.BLUR}


class JobSpec(_Strict):
    """One job: where frames come from, which model, how masks are made and scheduled, what effect,
    which outputs, and how to run. See ``configs/`` for one preset of every kind."""

    command: JobKind
    """What the job does: blur, replace, cutout, overlay or segment a file; webcam (live input); track
    (SAM 2 objects in a file). It sets the default effect and which outputs are allowed."""
    source: SourceSpec = Field(default_factory=SourceSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    mask: MaskSpec = Field(default_factory=MaskSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    effect: EffectSpec = Field(default_factory=EffectSpec)
    outputs: list[OutputSpec] = Field(default_factory=list)
    encoder: EncoderSpec = Field(default_factory=EncoderSpec)
    run: RunSpec = Field(default_factory=RunSpec)
    _origin: str | None = PrivateAttr(default=None)

    @property
    def origin(self) -> str | None:
        """The config file this job came from, if any (an input like any other: never overwritten)."""
        return self._origin

    def with_origin(self, path: str | os.PathLike[str] | None) -> JobSpec:
        self._origin = None if path is None else str(path)
        return self

    # -- derived -----------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Frames arrive on a clock (camera or real-time replay); a webcam job without a file uses camera 0."""
        return self.source.live or (self.command is JobKind.WEBCAM and self.source.path is None)

    @property
    def effective_effect(self) -> EffectKind:
        return self.effect.kind if self.effect.kind is not None else DEFAULT_EFFECT[self.command]

    @property
    def policy(self) -> SchedulePolicy:
        if self.schedule.policy is not SchedulePolicy.AUTO:
            return self.schedule.policy
        return SchedulePolicy.NEWEST if self.live else SchedulePolicy.EVERY

    def outputs_of(self, *kinds: OutputKind) -> list[OutputSpec]:
        return [o for o in self.outputs if o.kind in kinds]

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> JobSpec:
        """Validate ``data`` (current or earlier key layout); errors become one ConfigError line.

        ``base_dir``: relative paths in ``data`` are relative to it (a config file's folder).
        """
        try:
            spec = cls.model_validate(normalize(data))
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source)) from None
        if base_dir is not None:
            spec = spec.resolved(base_dir)
        return spec

    @classmethod
    def from_toml(cls, path: str | Path) -> JobSpec:
        """A job from a TOML file; its relative paths are relative to the file.

        >>> JobSpec.from_toml("configs/blur.toml").command.value  # doctest: +SKIP
        'blur'
        """
        p = Path(path)
        return cls.from_dict(load_toml(p), str(p), base_dir=p.resolve().parent).check().with_origin(p)

    def resolved(self, base: Path) -> JobSpec:
        """A copy with every relative file path made relative to ``base`` (absolute)."""
        from rtseg.effects.composite import parse_colour
        from rtseg.sources import is_special_input

        def fix(value: str | None, special: bool = False) -> str | None:
            if value is None or special or Path(value).is_absolute():
                return value
            return str(base / value)

        data = self.model_dump(exclude_unset=True)
        src = data.get("source", {})
        if "path" in src:
            src["path"] = fix(src["path"], is_special_input(src["path"]))
        model = data.get("model", {})
        for key in ("file", "dir", "prompts_file"):
            if key in model:
                model[key] = fix(model[key])
        for prompt in model.get("prompts", []):
            if prompt.get("mask"):
                prompt["mask"] = fix(prompt["mask"])
        effect = data.get("effect", {})
        if "backgrounds" in effect:
            effect["backgrounds"] = [fix(b, parse_colour(b) is not None) for b in effect["backgrounds"]]
        for out in data.get("outputs", []):
            if out.get("path"):
                out["path"] = fix(out["path"])
        run = data.get("run", {})
        if run.get("stats_json"):
            run["stats_json"] = fix(run["stats_json"])
        return type(self).model_validate(data)

    def check(self) -> JobSpec:
        """Rules across sections that a config or the command line can break; returns self."""
        src, kind, effect = self.source, self.command, self.effective_effect
        if src.path is not None and src.camera is not None:
            raise ConfigError(f"give a camera or a file, not both (camera={src.camera!r}, file={src.path!r})")
        if kind is JobKind.WEBCAM:
            if src.path is not None and not src.realtime:
                raise ConfigError(f"a file in live mode must be replayed in real time: add --realtime "
                                  f"(file={src.path!r}); for offline processing use `rtseg blur FILE -o OUT`")
        else:
            if src.path is None:
                raise ConfigError(f"{kind.value} needs an input (INPUT / [source] path = \"...\")")
            if src.live:
                raise ConfigError(f"{kind.value} reads a file; live input (a camera or --realtime) is `rtseg webcam`")
        if not self.outputs:
            if kind is JobKind.SEGMENT:
                raise ConfigError("segment needs a masks folder (--masks DIR)")
            if kind is JobKind.WEBCAM:
                raise ConfigError("nothing to output: give --vcam, --preview, --record FILE or --sink null")
            raise ConfigError(f"{kind.value} needs an output (-o OUTPUT, --masks DIR"
                              f"{', --rle FILE.json or --logits DIR' if self.model.tracks_objects else ''})")
        allowed = LIVE_KINDS if self.live else FILE_KINDS | {OutputKind.NULL}
        for out in self.outputs:
            if out.kind not in allowed:
                where = "a live job" if self.live else "a file job"
                raise ConfigError(f"{out.kind.value} is not an output of {where}; expected one of: "
                                  f"{', '.join(sorted(k.value for k in allowed))}")
            if out.kind in OBJECT_KINDS and not self.model.tracks_objects:
                raise ConfigError(f"--{out.kind.value} needs a model that tracks objects (--model sam2), "
                                  f"not {self.model.name!r}")
            if effect is EffectKind.CUTOUT and out.kind in (OutputKind.VIDEO, OutputKind.RECORD):
                suffix = Path(out.path or "").suffix.lower()
                if suffix not in ALPHA_VIDEO_SUFFIXES:
                    raise ConfigError(f"cutout needs an alpha-capable output: OUTPUT.webm, OUTPUT.mov or a "
                                      f"directory, got {Path(out.path or '').name!r}")
            if effect is EffectKind.CUTOUT and out.kind is OutputKind.VCAM:
                raise ConfigError("a virtual camera cannot carry alpha: use --effect cutout with --preview or "
                                  "--record FILE.webm|.mov")
        if effect is EffectKind.REPLACE and not self.effect.backgrounds:
            raise ConfigError("replace needs a background (--background IMAGE|VIDEO|#RRGGBB)")
        model = self.model
        if model.sha256 and not model.file:
            raise ConfigError("[model] sha256 checks a model file: give [model] file too (the bundled models are "
                              "always checked)")
        if model.file and model.tracks_objects:
            raise ConfigError(f"[model] file replaces a selfie model file; {model.name} takes --model-dir")
        if model.tracks_objects:
            if not model.dir:
                raise ConfigError(f"--model {model.name} needs --model-dir DIR (a directory written by "
                                  "`rtseg export-sam2`)")
            if not self.live and not model.prompts and not model.prompts_file:
                raise ConfigError("give a prompt: --point X,Y[,LABEL], --box X0,Y0,X1,Y1, --mask PNG or "
                                  "--prompts FILE.json")
        elif model.prompts or model.prompts_file:
            raise ConfigError(f"point/box/mask prompts need --model sam2 (model is {model.name!r})")
        if self.live and (model.prompts or model.prompts_file):
            extra = [p for p in model.prompts if p.frame != 0 or p.object != 1 or p.mask is not None]
            if extra or model.prompts_file:
                raise ConfigError("live prompts are points and a box for object 1 on the first frame; click in "
                                  "--preview for more")
        if self.mask.infer_every > 1 and self.live:
            raise ConfigError("--infer-every is for files; live, use --target-fps or --cpu-budget")
        return self
