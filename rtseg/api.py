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

from rtseg.effects.blur import DEFAULT_STRENGTH
from rtseg.errors import ConfigError
from rtseg.frame import Frame, ObjectMasks, id_map
from rtseg.graph.stats import RunStats
from rtseg.jobs.build import build
from rtseg.jobs.loading import merge
from rtseg.jobs.outputs import output_kind
from rtseg.jobs.segmenters import production_segmenter
from rtseg.jobs.spec import DEFAULT_MODEL, JobSpec
from rtseg.segment.base import Segmenter
from rtseg.segment.prompts import Prompt, prompt_to_dict

PathLike = str | os.PathLike[str]
Point = tuple[float, float] | tuple[float, float, int]
Points = Mapping[int, Sequence[Point]]
"""Clicks per object id: ``{1: [(x, y), (x, y, 0), ...]}`` (video pixels, on ``frame``): ``(x, y)`` includes,
``(x, y, label)`` says (1 include, 0 exclude), as in a batch manifest."""
Boxes = Mapping[int, tuple[float, float, float, float]]
"""A box per object id: ``{1: (x0, y0, x1, y1)}``."""
MaskPrompts = Mapping[int, PathLike]
"""A mask PNG (non-zero pixels are the object) per object id."""


def run(spec: JobSpec | Mapping[str, Any] | PathLike) -> RunStats:
    """Run any job: a :class:`JobSpec` (from a TOML file, :meth:`JobSpec.from_dict`, or built by hand),
    a dict of job keys, or the path of a TOML job file (as ``rtseg run FILE``).

    >>> stats = rtseg.run(rtseg.JobSpec.from_toml("configs/blur.toml"))    # doctest: +SKIP
    >>> stats.frames_out                                                   # doctest: +SKIP
    96
    >>> import rtseg
    >>> rtseg.run(None)
    Traceback (most recent call last):
    TypeError: rtseg.run() takes a JobSpec, a dict of job keys or the path of a TOML job file, not NoneType
    """
    if isinstance(spec, JobSpec):
        job = spec
    elif isinstance(spec, Mapping):
        job = JobSpec.from_dict(dict(spec), "rtseg.run()")
    elif isinstance(spec, str | os.PathLike):
        job = JobSpec.from_toml(os.fspath(spec))
    else:
        raise TypeError("rtseg.run() takes a JobSpec, a dict of job keys or the path of a TOML job file, "
                        f"not {type(spec).__name__}")
    return build(job.check()).run()


def _path(value: object, what: str) -> str:
    """A path argument as text; anything but ``str`` / ``os.PathLike`` is a TypeError saying so."""
    if isinstance(value, str | os.PathLike):
        return str(os.fspath(value))
    raise TypeError(f"{what} must be a path (str or os.PathLike), not {type(value).__name__}")


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    return float(value)


def _per_object(value: object, what: str, example: str) -> dict[int, Any]:
    """``{object_id: value}``; a mapping with other keys, or no mapping, is a TypeError naming what is accepted."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict of object id to {example}, not {type(value).__name__}")
    for key in value:
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise TypeError(f"{what}: object ids are whole numbers (1..255), got {key!r}")
    return {int(k): v for k, v in value.items()}


def _points(points: object) -> dict[int, dict[str, list[Any]]]:
    """``{obj: [(x, y) or (x, y, label), ...]}`` as each object's ``points`` and ``labels`` (label 1 when not
    given); the values are the :class:`Prompt`'s to check."""
    out: dict[int, dict[str, list[Any]]] = {}
    example = "a list of (x, y) points, e.g. {1: [(210, 350)]}"
    for obj, pts in _per_object(points, "points", example).items():
        if isinstance(pts, str | bytes) or not isinstance(pts, Sequence | np.ndarray):
            raise TypeError(f"points[{obj}] must be {example.split(', e.g.')[0]}, not {type(pts).__name__}")
        pairs, labels = [], []
        for pt in pts:
            if isinstance(pt, str | bytes) or not isinstance(pt, Sequence | np.ndarray) or len(pt) not in (2, 3):
                raise TypeError(f"points[{obj}]: each point is a pair (x, y) or (x, y, label), got {pt!r}")
            pairs.append((_number(pt[0], f"points[{obj}] x"), _number(pt[1], f"points[{obj}] y")))
            labels.append(pt[2] if len(pt) == 3 else 1)
        out[obj] = {"points": pairs, "labels": labels}
    return out


def _boxes(boxes: object) -> dict[int, tuple[float, ...]]:
    out: dict[int, tuple[float, ...]] = {}
    for obj, box in _per_object(boxes, "boxes", "a box (x0, y0, x1, y1)").items():
        if isinstance(box, str | bytes) or not isinstance(box, Sequence | np.ndarray) or len(box) != 4:
            raise TypeError(f"boxes[{obj}] must be (x0, y0, x1, y1), got {box!r}")
        out[obj] = tuple(_number(v, f"boxes[{obj}]") for v in box)
    return out


def _model(model: str, model_dir: PathLike | None, points: Points | None, boxes: Boxes | None,
           masks: MaskPrompts | None, frame: int, provider: str | None, threads: int | None) -> dict[str, Any]:
    if not isinstance(model, str):
        raise TypeError(f"model must be a model name such as 'selfie' or 'sam2', not {type(model).__name__}")
    if isinstance(frame, bool) or not isinstance(frame, int | np.integer):
        raise TypeError(f"frame must be a frame index (int), not {type(frame).__name__}")
    per_object: dict[int, dict[str, Any]] = {}
    for obj, clicks in (_points(points) if points is not None else {}).items():
        per_object.setdefault(obj, {}).update(clicks)
    for obj, box in (_boxes(boxes) if boxes is not None else {}).items():
        per_object.setdefault(obj, {})["box"] = box
    masks_map = _per_object(masks, "masks", "a mask PNG path") if masks is not None else {}
    for obj, png in masks_map.items():
        per_object.setdefault(obj, {})["mask"] = _path(png, f"masks[{obj}]")
    prompts = [_prompt(obj, frame, keys) for obj, keys in per_object.items()]
    data: dict[str, Any] = {"name": model}
    if model_dir is not None:
        data["dir"] = _path(model_dir, "model_dir")
    if provider is not None:
        data["provider"] = provider
    if threads is not None:
        data["threads"] = threads
    if prompts:
        data["prompts"] = [prompt_to_dict(p) for p in prompts]
    return data


_KEYWORD = {"points": "points", "labels": "points", "box": "boxes", "mask": "masks"}


def _prompt(obj: int, frame: int, keys: dict[str, Any]) -> Prompt:
    """The keywords' prompt for one object; a bad one is the :class:`Prompt`'s ConfigError, prefixed with
    the keywords that gave it (``points[1], boxes[1]: ...``)."""
    try:
        return Prompt(frame=int(frame), obj_id=obj, **keys)
    except ConfigError as exc:
        named = dict.fromkeys(f"{_KEYWORD[k]}[{obj}]" for k in keys)
        where = ", ".join([*named, *([f"frame={frame}"] if frame else [])])
        raise ConfigError(f"{where}: {exc}") from None


def _file_job(command: str, input: PathLike, outputs: list[dict[str, Any]], *, effect: dict[str, Any],
              model: str, model_dir: PathLike | None, points: Points | None, boxes: Boxes | None,
              masks: MaskPrompts | None, frame: int, provider: str | None, threads: int | None,
              options: Mapping[str, Any] | None) -> JobSpec:
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict of job keys, not {type(options).__name__}")
    data: dict[str, Any] = {"command": command, "source": {"path": _path(input, "input")}, "outputs": outputs,
                            "effect": effect, "model": _model(model, model_dir, points, boxes, masks, frame,
                                                              provider, threads),
                            "run": {"progress": False}}
    return JobSpec.from_dict(merge(data, dict(options or {})), "rtseg API").check()


def _output(path: PathLike) -> dict[str, Any]:
    p = Path(_path(path, "output"))
    return {"kind": output_kind(p).value, "path": str(p)}


def blur(input: PathLike, output: PathLike, *, strength: float = DEFAULT_STRENGTH, model: str = DEFAULT_MODEL,
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


def replace(input: PathLike, output: PathLike, background: str, *, light_wrap: float = 0.0, model: str = DEFAULT_MODEL,
            model_dir: PathLike | None = None, points: Points | None = None, boxes: Boxes | None = None,
            masks: MaskPrompts | None = None, frame: int = 0, options: Mapping[str, Any] | None = None) -> RunStats:
    """Replace the background with an image, a looped video or ``#RRGGBB`` (``rtseg replace``)."""
    return build(_file_job("replace", input, [_output(output)],
                           effect={"backgrounds": [str(background)], "light_wrap": light_wrap}, model=model,
                           model_dir=model_dir, points=points, boxes=boxes, masks=masks, frame=frame,
                           provider=None, threads=None, options=options)).run()


def cutout(input: PathLike, output: PathLike, *, model: str = DEFAULT_MODEL, model_dir: PathLike | None = None,
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


def segment_video(input: PathLike, *, model: str = DEFAULT_MODEL, model_dir: PathLike | None = None,
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
                     options=options)  # checked now, not at the first frame
    return _segment_results(spec)


def _segment_results(spec: JobSpec) -> Iterator[SegmentResult]:
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
        return id_map(self.masks.items(), self.image.shape)


def track(input: PathLike, model_dir: PathLike, *, points: Points | None = None, boxes: Boxes | None = None,
          masks: MaskPrompts | None = None, frame: int = 0, provider: str | None = None,
          threads: int | None = None) -> Iterator[TrackFrame]:
    """Track the prompted objects through ``input`` with SAM 2 (``rtseg track``), frame by frame.

    >>> for f in rtseg.track("clip.mp4", "sam2-tiny", points={1: [(210, 350)]}):   # doctest: +SKIP
    ...     print(f.index, {k: int(m.sum()) for k, m in f.masks.items()})
    """
    if not isinstance(model_dir, str | os.PathLike):
        raise TypeError(f"model_dir must be the folder `rtseg export-sam2` wrote, not {type(model_dir).__name__}")
    spec = _file_job("track", input, [{"kind": "null"}], effect={"kind": "none"}, model="sam2",
                     model_dir=model_dir, points=points, boxes=boxes, masks=masks, frame=frame, provider=provider,
                     threads=threads, options=None)  # checked now, not at the first frame
    return _track_frames(spec)


def _track_frames(spec: JobSpec) -> Iterator[TrackFrame]:
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
        from rtseg.imaging import upsample_alpha

        if not isinstance(rgb, np.ndarray):
            raise TypeError(f"expected an RGB uint8 frame as a numpy array (H, W, 3), not {type(rgb).__name__}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f"expected an RGB uint8 frame (H, W, 3), got {rgb.dtype} {rgb.shape}")
        if rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ConfigError(f"expected a frame of at least 1x1 pixels, got {rgb.shape[1]}x{rgb.shape[0]}")
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


def open_segmenter(model: str = DEFAULT_MODEL, *, model_dir: PathLike | None = None, points: Points | None = None,
                   boxes: Boxes | None = None, options: Mapping[str, Any] | None = None) -> FrameSegmenter:
    """A per-frame segmenter with the same mask path as the CLI (ROI pass and smoothing included).

    ``options`` holds JobSpec ``mask`` keys, e.g. ``{"roi": False, "smoothing": "none"}``.

    >>> import numpy as np
    >>> with rtseg.open_segmenter("selfie") as seg:                      # doctest: +SKIP
    ...     seg(np.zeros((360, 640, 3), np.uint8)).shape
    (360, 640)
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict of mask keys, e.g. {{'roi': False}}, not {type(options).__name__}")
    data: dict[str, Any] = {"command": "webcam", "source": {"path": "sample", "realtime": True},
                            "outputs": [{"kind": "null"}], "mask": dict(options or {}),
                            "model": _model(model, model_dir, points, boxes, None, 0, None, None)}
    spec = JobSpec.from_dict(data, "rtseg API").check()
    return FrameSegmenter(production_segmenter(spec))


__all__ = ["FrameSegmenter", "SegmentResult", "TrackFrame", "blur", "cutout", "open_segmenter", "replace", "run",
           "segment_video", "track"]
