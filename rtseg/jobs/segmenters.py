"""The production mask path as one segmenter: a registry model followed by smoothing and refinement."""

from __future__ import annotations

from pathlib import Path

from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.imaging.refine import RefineMode, RefineOptions
from rtseg.jobs.spec import JobSpec, MaskSpec, ModelSpec
from rtseg.segment.base import Segmenter
from rtseg.segment.prompts import Prompt, PromptFeed, load_prompts_file
from rtseg.segment.registry import ModelOptions, create_segmenter, model_entry
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions
from rtseg.temporal.stage import MaskPath


class MaskedSegmenter:
    """A segmenter whose alpha goes through the mask path (smoothing + refinement) at the frame's size.

    Live, the segment stage runs it in the inference worker, so the smoothing history follows the
    frames actually segmented; the Python API's :func:`rtseg.open_segmenter` hands it out per frame.
    """

    def __init__(self, inner: Segmenter, path: MaskPath) -> None:
        self.inner = inner
        self.path = path
        self.name = inner.name

    def open(self, info: StreamInfo | None = None) -> None:
        self.inner.open(info)
        self.path.reset()

    def segment(self, frame: Frame) -> MaskResult | None:
        result = self.inner.segment(frame)
        if result is None:
            return None
        result.alpha = self.path.apply(result.alpha, frame.image)
        return result

    def reset(self) -> None:
        self.inner.reset()
        self.path.reset()

    def close(self) -> None:
        self.inner.close()


def smoothing_options(m: MaskSpec) -> SmoothingOptions:
    return SmoothingOptions(SmoothingMode(m.smoothing), m.smoothing_ratio, m.ema_weight, m.motion_threshold,
                            m.low, m.high)


def refine_options(m: MaskSpec) -> RefineOptions:
    return RefineOptions(RefineMode(m.refine), m.refine_radius, m.refine_eps, m.refine_scale)


def prompts_of(model: ModelSpec) -> list[Prompt]:
    """The spec's prompts (inline, then those of ``prompts_file``), one :class:`Prompt` per object and frame."""
    prompts = [p.to_prompt() for p in model.prompts]
    if model.prompts_file:
        prompts.extend(load_prompts_file(Path(model.prompts_file)))
    return prompts


LIVE_MODEL_THREADS = 1
"""ONNX Runtime intra-op threads of a live job's model when ``model.threads`` is unset (its other stages run
beside it)."""


def model_threads(spec: JobSpec) -> int | None:
    """The job's ``model.threads``, else :data:`LIVE_MODEL_THREADS` live (None: ONNX Runtime's default)."""
    threads = spec.model.threads
    return threads if threads is not None else (LIVE_MODEL_THREADS if spec.live else None)


def model_options(spec: JobSpec, feed: PromptFeed | None = None) -> ModelOptions:
    model, mask = spec.model, spec.mask
    return ModelOptions(file=model.file, sha256=model.sha256, roi=mask.roi, roi_margin=mask.roi_margin,
                        redetect_every=mask.redetect_every, model_dir=model.dir, threads=model_threads(spec) or None,
                        provider=model.provider, trt_cache=model.trt_cache, fp16=model.fp16, runtime=model.runtime,
                        prompts=tuple(prompts_of(model)), feed=feed, live=spec.live)


def uses_mask_path(spec: JobSpec) -> bool:
    """Selfie models get smoothing and refinement; models that track objects give their masks as they are."""
    return not model_entry(spec.model.name).tracks_objects


def production_segmenter(spec: JobSpec, feed: PromptFeed | None = None) -> Segmenter:
    """The spec's model with, for the selfie models, the whole mask path (ROI, smoothing, refinement)."""
    inner = create_segmenter(spec.model.name, model_options(spec, feed))
    if not uses_mask_path(spec):
        return inner
    return MaskedSegmenter(inner, MaskPath(smoothing_options(spec.mask), refine_options(spec.mask)))
