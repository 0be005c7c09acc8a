"""``rtseg track`` as pipeline stages: the tracker stage and the per-object output files.

:class:`Sam2TrackStage` runs :class:`~rtseg.segment.sam2.tracker.Sam2Tracker` on each frame, puts the
union of the object masks in ``frame.alpha`` (so the core effects and sinks work unchanged) and
the full per-object :class:`~rtseg.segment.sam2.tracker.TrackResult` in
``frame.extras[SAM2_RESULT]``, where :class:`TrackFilesSink` reads it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from rtseg.errors import ConfigError, SinkError
from rtseg.frame import Frame
from rtseg.graph.stage import ProcessStage, SinkStage
from rtseg.segment.providers import Device
from rtseg.segment.sam2.tracker import Sam2Tracker, TrackResult
from rtseg.sinks.atomic import AtomicDir, partial_file
from rtseg.sinks.images import frame_filename

# --- prompts ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class PromptSpec:
    """One prompt call: points (with labels), a box, or a mask, for one object on one frame."""

    frame: int = 0
    obj_id: int = 1
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: Path | None = None

    def apply(self, tracker: Sam2Tracker) -> None:
        if self.mask is not None:
            tracker.add_mask(self.frame, self.obj_id, read_mask_png(self.mask))
        if self.points or self.box is not None:
            tracker.add_points(
                self.frame, self.obj_id, np.asarray(self.points, np.float32).reshape(-1, 2), self.labels, box=self.box
            )
        if self.mask is None and not self.points and self.box is None:
            raise ConfigError(f"prompt for object {self.obj_id} on frame {self.frame} has no point, box or mask")


def read_mask_png(path: Path) -> np.ndarray:
    """A mask prompt image: every non-zero pixel is the object."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L") if img.mode not in ("L", "P", "1") else img)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read mask prompt {path}: {exc}") from exc
    return arr > 0


def load_prompts_file(path: Path) -> list[PromptSpec]:
    """Read ``--prompts FILE.json``: a list of ``{"frame", "object", "points", "labels", "box", "mask"}``.

    ``points`` are ``[x, y]`` in the input's pixels, ``labels`` 1 (include) / 0 (exclude) and
    default to 1; ``mask`` is a PNG path relative to the JSON file.

    >>> # [{"frame": 0, "object": 1, "points": [[210, 350]]}, {"frame": 0, "object": 2, "box": [400, 100, 700, 400]}]
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read prompts file {path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"prompts file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ConfigError(f"prompts file {path} must hold a JSON list of prompts, got {type(data).__name__}")
    known = {"frame", "object", "points", "labels", "box", "mask"}
    specs = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: prompt {i} must be an object, got {item!r}")
        unknown = set(item) - known
        if unknown:
            raise ConfigError(f"{path}: prompt {i} has unknown keys {sorted(unknown)}; expected {sorted(known)}")
        try:
            points = [(float(p[0]), float(p[1])) for p in item.get("points", [])]
            labels = [int(v) for v in item.get("labels", [1] * len(points))]
            box = item.get("box")
            spec = PromptSpec(
                frame=int(item.get("frame", 0)),
                obj_id=int(item.get("object", 1)),
                points=points,
                labels=labels,
                box=tuple(float(v) for v in box) if box is not None else None,  # type: ignore[arg-type]
                mask=(Path(path).parent / item["mask"]) if item.get("mask") else None,
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"{path}: prompt {i} is malformed ({exc}): {item!r}") from exc
        if spec.box is not None and len(spec.box) != 4:
            raise ConfigError(f"{path}: prompt {i} box must be [x0, y0, x1, y1], got {box!r}")
        specs.append(spec)
    return specs


# --- COCO run-length encoding -------------------------------------------------------------------------


def rle_encode(mask: np.ndarray) -> dict[str, object]:
    """COCO RLE of a bool mask (column-major runs, compressed counts string as pycocotools writes).

    >>> rle_encode(np.array([[0, 1], [1, 1]], bool))
    {'size': [2, 2], 'counts': '13'}
    """
    h, w = mask.shape
    flat = np.asarray(mask, bool).ravel(order="F")
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(h), int(w)], "counts": _counts_to_string(counts)}


def _counts_to_string(counts: list[int]) -> str:
    out = []
    for i, value in enumerate(counts):
        x = int(value) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_decode(rle: dict[str, object]) -> np.ndarray:
    """Inverse of :func:`rle_encode`."""
    size = rle["size"]
    assert isinstance(size, list | tuple)
    h, w = int(size[0]), int(size[1])
    s = str(rle["counts"])
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    flat = np.zeros(h * w, dtype=np.bool_)
    pos, val = 0, False
    for n in counts:
        flat[pos : pos + n] = val
        pos += n
        val = not val
    return flat.reshape(h, w, order="F")


def davis_palette() -> list[int]:
    """The PASCAL VOC / DAVIS 2017 palette (id 1 red, 2 green, 3 yellow, ...), flat RGB list."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


# --- stages -----------------------------------------------------------------------------------------

SAM2_RESULT = "sam2"
"""``Frame.extras`` key of the frame's :class:`~rtseg.segment.sam2.tracker.TrackResult`."""


class Sam2TrackStage(ProcessStage):
    """Tracks the prompted objects; ``frame.alpha`` becomes their union (1 inside any object)."""

    name = "track"

    def __init__(
        self,
        model_dir: Path,
        prompts: list[PromptSpec],
        *,
        num_frames: int | None = None,
        device: str | Device = Device.AUTO,
        invert_alpha: bool = False,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.prompts = prompts
        self.num_frames = num_frames or None
        self.device = device
        self.invert_alpha = invert_alpha
        self.tracker: Sam2Tracker | None = None

    def open(self) -> None:
        tracker = Sam2Tracker(self.model_dir, device=self.device, num_frames=self.num_frames)
        tracker.open()
        try:
            for spec in self.prompts:
                spec.apply(tracker)
        except BaseException:
            tracker.close()
            raise
        self.tracker = tracker

    def process(self, frame: Frame) -> Frame:
        assert self.tracker is not None, "open() first"
        result = self.tracker.track(frame.image, frame.index)
        union = result.masks.any(axis=0) if len(result.obj_ids) else np.zeros(frame.image.shape[:2], bool)
        alpha = union.astype(np.float32)
        frame.alpha = np.asarray(1.0 - alpha if self.invert_alpha else alpha, dtype=np.float32)
        frame.extras[SAM2_RESULT] = result
        return frame

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None


class TrackFilesSink(SinkStage):
    """``--masks`` (palette PNG of object ids), ``--logits`` (``.npy``) and ``--rle`` (JSON).

    Folders and the JSON file appear only after a clean end of stream (written beside the target,
    then renamed), like the core sinks.
    """

    name = "track-files"

    def __init__(
        self,
        *,
        masks: Path | None = None,
        logits: Path | None = None,
        rle: Path | None = None,
    ) -> None:
        if masks is None and logits is None and rle is None:
            raise ConfigError("TrackFilesSink needs at least one of masks, logits, rle")
        self.masks, self.logits, self.rle = masks, logits, rle
        self._mask_dir = AtomicDir(masks) if masks else None
        self._logit_dir = AtomicDir(logits) if logits else None
        self._mask_tmp: Path | None = None
        self._logit_tmp: Path | None = None
        self._rle_frames: list[dict[str, object]] = []
        self._palette = davis_palette()

    def open(self) -> None:
        if self._mask_dir is not None:
            self._mask_tmp = self._mask_dir.open()
        if self._logit_dir is not None:
            self._logit_tmp = self._logit_dir.open()
        if self.rle is not None:
            partial_file(self.rle)  # checks the directory is writable now, not after the whole video

    def process(self, frame: Frame) -> None:
        result: TrackResult | None = frame.extras.get(SAM2_RESULT)
        if result is None:
            raise ConfigError(f"frame {frame.index} has no SAM 2 result: put a Sam2TrackStage before TrackFilesSink")
        if self._mask_tmp is not None:
            img = Image.fromarray(result.id_map(), mode="P")
            img.putpalette(self._palette)
            path = self._mask_tmp / frame_filename(frame)
            try:
                img.save(path, optimize=False, compress_level=1)
            except OSError as exc:
                raise SinkError(f"cannot write {path}: {exc}") from exc
        if self._logit_tmp is not None:
            np.save(self._logit_tmp / frame_filename(frame, ".npy"), result.video_logits.astype(np.float32))
        if self.rle is not None:
            objects = {str(obj_id): rle_encode(result.masks[k]) for k, obj_id in enumerate(result.obj_ids)}
            self._rle_frames.append({"frame": frame.index, "name": frame.name, "objects": objects})

    def finish(self) -> None:
        if self._mask_dir is not None:
            self._mask_dir.commit()
            self._mask_tmp = None
        if self._logit_dir is not None:
            self._logit_dir.commit()
            self._logit_tmp = None
        if self.rle is not None:
            tmp = partial_file(self.rle)
            try:
                tmp.write_text(json.dumps({"format": "coco-rle", "frames": self._rle_frames}) + "\n")
                os.replace(tmp, self.rle)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise SinkError(f"cannot write {self.rle}: {exc}") from exc

    def close(self) -> None:
        for d in (self._mask_dir, self._logit_dir):
            if d is not None:
                d.discard()
        self._mask_tmp = self._logit_tmp = None
