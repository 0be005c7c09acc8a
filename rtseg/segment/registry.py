"""The model registry: every segmenter is found here by name (``rtseg devices`` and ``--help`` list them).

Adding a model is one :class:`ModelEntry` with a factory that turns :class:`ModelOptions` into a
:class:`~rtseg.segment.base.Segmenter`; heavy imports stay inside the factory.

>>> model_names()
['selfie', 'selfie-square', 'selfie-landscape', 'sam2', 'rvm']
>>> MODELS["sam2"].tracks_objects
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rtseg.errors import ConfigError
from rtseg.segment.base import Segmenter
from rtseg.segment.prompts import Prompt, PromptFeed
from rtseg.segment.providers import GpuOptions
from rtseg.segment.selfie import SelfieVariant

if TYPE_CHECKING:
    import numpy as np

    from rtseg.segment.sam2.interactive import InteractiveSession

FrameReader = Callable[[int], "np.ndarray"]
"""Frame index → RGB uint8 (H, W, 3), for interactive sessions (frames are read when needed)."""


@dataclass(frozen=True)
class ModelOptions:
    """What a factory may use; each model reads the fields that concern it."""

    file: str | None = None
    """Selfie: a model file replacing the bundled one (same architecture)."""
    sha256: str | None = None
    roi: bool = True
    """Selfie: the second pass on a crop around the person."""
    roi_margin: float = 0.15
    redetect_every: int = 15
    model_dir: str | None = None
    """SAM 2: the directory ``rtseg export-sam2`` wrote."""
    threads: int | None = None
    """SAM 2: ONNX Runtime intra-op threads (None: its default)."""
    provider: str = "auto"
    """SAM 2: ONNX Runtime execution provider, ``auto | tensorrt | cuda | cpu``."""
    trt_cache: str | None = None
    """SAM 2 on TensorRT: the engine cache directory."""
    fp16: bool = False
    """SAM 2 on TensorRT: build fp16 engines."""
    runtime: str = "auto"
    """Selfie: ``auto | litert | mediapipe`` (see :class:`~rtseg.segment.selfie.SelfieRuntime`)."""
    prompts: tuple[Prompt, ...] = ()
    feed: PromptFeed | None = field(default=None, compare=False)
    live: bool = False
    """Frames come from a clock, newest first (prompts apply to the first frame segmented)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    summary: str
    create: Callable[[ModelOptions], Segmenter]
    tracks_objects: bool = False
    """Results carry per-object masks and need prompts: ``create`` returns a
    :class:`~rtseg.segment.base.Promptable`."""
    needs_model_dir: bool = False
    interactive: Callable[..., InteractiveSession] | None = None
    """Any-frame clicks, corrections and re-propagation on a recorded video (the studio): called as
    :func:`create_interactive` is, without the name."""


def _selfie(variant: SelfieVariant) -> Callable[[ModelOptions], Segmenter]:
    def create(o: ModelOptions) -> Segmenter:
        from rtseg.segment.roi import RoiSegmenter
        from rtseg.segment.selfie import SelfieSegmenter

        if o.roi:
            return RoiSegmenter(variant, margin=o.roi_margin, redetect_every=o.redetect_every, model_path=o.file,
                                model_sha256=o.sha256, runtime=o.runtime)
        return SelfieSegmenter(variant, model_path=o.file, model_sha256=o.sha256, runtime=o.runtime)

    return create


def _sam2(o: ModelOptions) -> Segmenter:
    from rtseg.segment.sam2.segmenter import Sam2Segmenter

    if not o.model_dir:
        raise ConfigError("the sam2 model needs a model directory (--model-dir DIR, written by `rtseg export-sam2`)")
    return Sam2Segmenter(Path(o.model_dir), o.prompts, feed=o.feed, threads=o.threads, provider=o.provider,
                         live=o.live, gpu=GpuOptions(trt_cache=o.trt_cache, fp16=o.fp16))


def _sam2_interactive(o: ModelOptions, read_frame: FrameReader, num_frames: int, *,
                      feature_budget_bytes: int | None = None,
                      corrections_as_conditioning: bool | None = None) -> InteractiveSession:
    from rtseg.segment.sam2.interactive import DEFAULT_FEATURE_BUDGET, InteractiveSession
    from rtseg.segment.sam2.model import TrackerModel

    if not o.model_dir:
        raise ConfigError("the sam2 model needs a model directory (--model-dir DIR, written by `rtseg export-sam2`)")
    model = TrackerModel(Path(o.model_dir), provider=o.provider, intra_op_threads=o.threads,
                         gpu=GpuOptions(trt_cache=o.trt_cache, fp16=o.fp16)).open()
    try:
        return InteractiveSession(model, read_frame, num_frames,
                                  feature_budget_bytes=DEFAULT_FEATURE_BUDGET if feature_budget_bytes is None
                                  else feature_budget_bytes,
                                  corrections_as_conditioning=corrections_as_conditioning)
    except BaseException:
        model.close()
        raise


def _rvm(o: ModelOptions) -> Segmenter:
    from rtseg.segment.rvm import RvmSegmenter, default_dir

    return RvmSegmenter(Path(o.model_dir) if o.model_dir else default_dir(), threads=o.threads, provider=o.provider)


MODELS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("selfie", "MediaPipe selfie segmentation, people; landscape model for wide frames, square otherwise",
               _selfie(SelfieVariant.AUTO)),
    ModelEntry("selfie-square", "MediaPipe selfie segmentation, 256x256 model", _selfie(SelfieVariant.SQUARE)),
    ModelEntry("selfie-landscape", "MediaPipe selfie segmentation, 256x144 model", _selfie(SelfieVariant.LANDSCAPE)),
    ModelEntry("sam2", "SAM 2 masklet propagation through ONNX Runtime, any object from points/boxes/masks "
               "(needs --model-dir; SAM 2 or EdgeTAM, as the export says)", _sam2, tracks_objects=True,
               needs_model_dir=True, interactive=_sam2_interactive),
    ModelEntry("rvm", "Robust Video Matting through ONNX Runtime, people, fine edges, ~0.6 s of CPU per 720p "
               "frame; opt-in, made by `rtseg import-rvm` (GPL-3.0 code, weights without a stated licence)", _rvm),
)}


def model_names() -> list[str]:
    """The names ``open_segmenter``, ``--model`` and ``[model] name`` accept, in the registry's order.

    >>> model_names()[:2]
    ['selfie', 'selfie-square']
    """
    return list(MODELS)


def model_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; expected one of: {', '.join(MODELS)}") from None


def create_segmenter(name: str, options: ModelOptions | None = None) -> Segmenter:
    """A segmenter by registry name (not opened yet)."""
    return model_entry(name).create(options or ModelOptions())


def create_interactive(name: str, options: ModelOptions, read_frame: FrameReader, num_frames: int, *,
                       feature_budget_bytes: int | None = None,
                       corrections_as_conditioning: bool | None = None) -> InteractiveSession:
    """An interactive session on a recorded video for a model that tracks objects, its model opened
    (``session.model.close()`` releases it).

    ``feature_budget_bytes`` bounds the cached image features (None: the session's default) and
    ``corrections_as_conditioning`` makes a corrected frame a conditioning frame (None: the model's
    setting); both are passed to the session as they are.
    """
    entry = model_entry(name)
    if entry.interactive is None:
        raise ConfigError(f"the {name} model does not track prompted objects; interactive models: "
                          f"{', '.join(e.name for e in MODELS.values() if e.interactive is not None)}")
    return entry.interactive(options, read_frame, num_frames, feature_budget_bytes=feature_budget_bytes,
                             corrections_as_conditioning=corrections_as_conditioning)
