"""The public Python API: the CLI's jobs as functions, plus per-frame segmentation and SAM 2 tracking.

Every function here fills a :class:`~rtseg.jobs.spec.JobSpec` exactly as the matching command does and
runs it through :func:`~rtseg.jobs.build.build`, so ``rtseg.blur("in.mp4", "out.mp4")`` writes the same
file as ``rtseg blur in.mp4 -o out.mp4``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from rtseg.frame import Frame, ObjectMasks
from rtseg.graph.stats import RunStats
from rtseg.jobs.build import build
from rtseg.jobs.segmenters import production_segmenter
from rtseg.jobs.spec import JobSpec
from rtseg.segment.base import Segmenter

PathLike = str | os.PathLike[str]
Point = tuple[float, float]
Points = Mapping[int, Sequence[Point]]
"""Clicks per object id: ``{1: [(x, y), ...]}`` (include points, video pixels, on ``frame``)."""
Boxes = Mapping[int, tuple[float, float, float, float]]
"""A box per object id: ``{1: (x0, y0, x1, y1)}``."""
MaskPrompts = Mapping[int, PathLike]
"""A mask PNG (non-zero pixels are the object) per object id."""


def run(spec: JobSpec) -> RunStats:
    """Run any job: a spec from a TOML file, from :meth:`JobSpec.from_dict`, or built by hand.

    >>> stats = rtseg.run(rtseg.JobSpec.from_toml("configs/blur.toml"))    # doctest: +SKIP
    >>> stats.frames_out                                                   # doctest: +SKIP
    96
    """
    return build(spec.check()).run()


def _model(model: str, model_dir: PathLike | None, points: Points | None, boxes: Boxes | None,
           masks: MaskPrompts | None, frame: int, provider: str | None, threads: int | None) -> dict[str, Any]:
    prompts: dict[int, dict[str, Any]] = {}
    for obj, pts in (points or {}).items():
        prompts.setdefault(obj, {})["points"] = [(float(x), float(y)) for x, y in pts]
    for obj, box in (boxes or {}).items():
        prompts.setdefault(obj, {})["box"] = tuple(float(v) for v in box)
    for obj, png in (masks or {}).items():
        prompts.setdefault(obj, {})["mask"] = str(png)
    data: dict[str, Any] = {"name": model}
    if model_dir is not None:
        data["dir"] = str(model_dir)
    if provider is not None:
        data["provider"] = provider
    if threads is not None:
        data["threads"] = threads
    if prompts:
        data["prompts"] = [{"frame": frame, "object": obj, **p} for obj, p in prompts.items()]
    return data


def _file_job(command: str, input: PathLike, outputs: list[dict[str, Any]], *, effect: dict[str, Any],
              model: str, model_dir: PathLike | None, points: Points | None, boxes: Boxes | None,
              masks: MaskPrompts | None, frame: int, provider: str | None, threads: int | None,
              options: Mapping[str, Any] | None) -> JobSpec:
    data: dict[str, Any] = {"command": command, "source": {"path": str(input)}, "outputs": outputs,
                            "effect": effect, "model": _model(model, model_dir, points, boxes, masks, frame,
                                                              provider, threads),
                            "run": {"progress": False}}
    from rtseg.jobs.spec import merge

    return JobSpec.from_dict(merge(data, dict(options or {})), "rtseg API").check()


def _output(path: PathLike) -> dict[str, Any]:
    p = Path(path)
    return {"kind": "images" if p.suffix.lower() in ("", ".png") else "video", "path": str(p)}


def blur(input: PathLike, output: PathLike, *, strength: float = 25.0, model: str = "selfie",
         model_dir: PathLike | None = None, points: Points | None = None, boxes: Boxes | None = None,
         masks: MaskPrompts | None = None, frame: int = 0, provider: str | None = None, threads: int | None = None,
         options: Mapping[str, Any] | None = None) -> RunStats:
    """Blur the background of ``input`` into ``output`` (a video file, or a folder of PNGs); the same
    file ``rtseg blur INPUT -o OUTPUT --strength S`` writes.

    With ``model="sam2"`` and ``model_dir``, everything but the prompted objects is blurred.
    ``options`` holds any other JobSpec keys, e.g. ``{"mask": {"infer_every": 2}}``.

    >>> rtseg.blur("sample", "sample-blur.mp4", strength=30).frames_out   # doctest: +SKIP
    96
    """
    return build(_file_job("blur", input, [_output(output)], effect={"strength": strength}, model=model,
                           model_dir=model_dir, points=points, boxes=boxes, masks=masks, frame=frame,
                           provider=provider, threads=threads, options=options)).run()


def replace(input: PathLike, output: PathLike, background: str, *, light_wrap: float = 0.0, model: str = "selfie",
            model_dir: PathLike | None = None, points: Points | None = None, boxes: Boxes | None = None,
            masks: MaskPrompts | None = None, frame: int = 0, options: Mapping[str, Any] | None = None) -> RunStats:
    """Replace the background with an image, a looped video or ``#RRGGBB`` (``rtseg replace``)."""
    return build(_file_job("replace", input, [_output(output)],
                           effect={"backgrounds": [str(background)], "light_wrap": light_wrap}, model=model,
                           model_dir=model_dir, points=points, boxes=boxes, masks=masks, frame=frame,
                           provider=None, threads=None, options=options)).run()


def cutout(input: PathLike, output: PathLike, *, model: str = "selfie", model_dir: PathLike | None = None,
           points: Points | None = None, boxes: Boxes | None = None, masks: MaskPrompts | None = None,
           frame: int = 0, options: Mapping[str, Any] | None = None) -> RunStats:
    """Cut the person (or the prompted objects) out, with alpha: ``.webm``, ``.mov`` or a PNG folder."""
    return build(_file_job("cutout", input, [_output(output)], effect={}, model=model, model_dir=model_dir,
                           points=points, boxes=boxes, masks=masks, frame=frame, provider=None, threads=None,
                           options=options)).run()


@dataclass(frozen=True)
class SegmentResult:
    """One frame of :func:`segment_video`: the RGB ``image``, its ``alpha`` (float32 0..1, frame size)
    and, for SAM 2, the per-object ``objects``."""

    index: int
    image: np.ndarray
    alpha: np.ndarray
    objects: ObjectMasks | None = None
    name: str | None = None


def _frames(spec: JobSpec) -> Iterator[Frame]:
    yield from build(spec).frames()


def segment_video(input: PathLike, *, model: str = "selfie", model_dir: PathLike | None = None,
                  points: Points | None = None, boxes: Boxes | None = None, masks: MaskPrompts | None = None,
                  frame: int = 0, options: Mapping[str, Any] | None = None) -> Iterator[SegmentResult]:
    """Each frame of ``input`` with the production mask (ROI pass, smoothing, refinement), in order.

    Breaking out of the loop stops the work; nothing is written.

    >>> for r in rtseg.segment_video("sample"):                          # doctest: +SKIP
    ...     print(r.index, r.image.shape, r.alpha.dtype); break
    0 (360, 640, 3) float32
    """
    spec = _file_job("segment", input, [{"kind": "null"}], effect={}, model=model, model_dir=model_dir,
                     points=points, boxes=boxes, masks=masks, frame=frame, provider=None, threads=None,
                     options=options)
    for f in _frames(spec):
        assert f.alpha is not None
        yield SegmentResult(f.index, f.image, f.alpha, f.objects, f.name)


@dataclass(frozen=True)
class TrackFrame:
    """One frame of :func:`track`: per-object boolean ``masks`` (at the frame's size), ``logits`` and
    presence ``scores`` keyed by object id."""

    index: int
    image: np.ndarray
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    logits: dict[int, np.ndarray] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)

    def id_map(self) -> np.ndarray:
        """(H, W) uint8 object ids (0 background), as ``rtseg track --masks`` writes them."""
        out = np.zeros(self.image.shape[:2], np.uint8)
        for obj_id, mask in self.masks.items():
            out[mask] = obj_id
        return out


def track(input: PathLike, model_dir: PathLike, *, points: Points | None = None, boxes: Boxes | None = None,
          masks: MaskPrompts | None = None, frame: int = 0, provider: str | None = None,
          threads: int | None = None) -> Iterator[TrackFrame]:
    """Track the prompted objects through ``input`` with SAM 2 (``rtseg track``), frame by frame.

    >>> for f in rtseg.track("clip.mp4", "sam2-tiny", points={1: [(210, 350)]}):   # doctest: +SKIP
    ...     print(f.index, {k: int(m.sum()) for k, m in f.masks.items()})
    """
    spec = _file_job("track", input, [{"kind": "null"}], effect={"kind": "none"}, model="sam2",
                     model_dir=model_dir, points=points, boxes=boxes, masks=masks, frame=frame, provider=provider,
                     threads=threads, options=None)
    for f in _frames(spec):
        objects = f.objects
        if objects is None:
            yield TrackFrame(f.index, f.image)
            continue
        yield TrackFrame(f.index, f.image,
                         masks={o: objects.logits[k] > 0 for k, o in enumerate(objects.obj_ids)},
                         logits={o: objects.logits[k] for k, o in enumerate(objects.obj_ids)},
                         scores={o: float(objects.scores[k]) for k, o in enumerate(objects.obj_ids)})


class FrameSegmenter:
    """The production mask path for your own frames: ``alpha = seg(rgb)`` (float32 0..1, frame size).

    Temporal smoothing and the ROI pass follow the frames you give, in order; ``reset()`` starts over
    (a new video). Use it as a context manager (the model loads on entry).
    """

    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter = segmenter
        self._index = 0

    def __enter__(self) -> FrameSegmenter:
        self.segmenter.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __call__(self, rgb: np.ndarray, index: int | None = None) -> np.ndarray:
        """Alpha of one RGB uint8 (H, W, 3) frame at its size; zeros while a SAM 2 object has no prompt yet."""
        from rtseg.errors import ConfigError
        from rtseg.imaging import upsample_alpha

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")
        i = self._index if index is None else index
        self._index = i + 1
        result = self.segmenter.segment(Frame(rgb, i))
        h, w = rgb.shape[:2]
        if result is None:
            return np.zeros((h, w), np.float32)
        return upsample_alpha(result.alpha, w, h)

    def reset(self) -> None:
        self.segmenter.reset()
        self._index = 0

    def close(self) -> None:
        self.segmenter.close()


def open_segmenter(model: str = "selfie", *, model_dir: PathLike | None = None, points: Points | None = None,
                   boxes: Boxes | None = None, options: Mapping[str, Any] | None = None) -> FrameSegmenter:
    """A per-frame segmenter with the same mask path as the CLI (ROI pass and smoothing included).

    ``options`` holds JobSpec ``mask`` keys, e.g. ``{"roi": False, "smoothing": "none"}``.

    >>> import numpy as np
    >>> with rtseg.open_segmenter("selfie") as seg:                      # doctest: +SKIP
    ...     seg(np.zeros((360, 640, 3), np.uint8)).shape
    (360, 640)
    """
    data: dict[str, Any] = {"command": "webcam", "source": {"path": "sample", "realtime": True},
                            "outputs": [{"kind": "null"}], "mask": dict(options or {}),
                            "model": _model(model, model_dir, points, boxes, None, 0, None, None)}
    spec = JobSpec.from_dict(data, "rtseg API").check()
    return FrameSegmenter(production_segmenter(spec))


__all__ = ["FrameSegmenter", "SegmentResult", "TrackFrame", "blur", "cutout", "open_segmenter", "replace", "run",
           "segment_video", "track"]
