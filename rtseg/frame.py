"""The data that flows through the stage graph: stream information, frames and mask results."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


def id_map(masks: Iterable[tuple[int, np.ndarray]], shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) uint8 with each pixel's object id (0 background) from ``(object id, boolean mask)``
    pairs of size ``shape`` (H, W); where masks overlap, the later object wins.

    >>> id_map([(1, np.array([[True, True]])), (2, np.array([[False, True]]))], (1, 2)).tolist()
    [[1, 2]]
    """
    out = np.zeros(shape[:2], dtype=np.uint8)
    for obj_id, mask in masks:
        out[mask] = obj_id
    return out


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a source tells the stages after it opened, before the first frame.

    Every stage receives it in ``open(info)``; a file sink takes the frame rate, time base and audio
    from it, a virtual camera its size. Frames always have ``width`` x ``height``: a source whose
    frames change size mid-stream (a camera that came back at another resolution) is brought back to
    this size by the pipeline, in one place.

    >>> info = StreamInfo(1280, 720, fps=Fraction(30), time_base=Fraction(1, 30), frames=300)
    >>> info.size, info.duration_s
    ((1280, 720), 10.0)
    """

    width: int
    height: int
    fps: Fraction = Fraction(30)
    time_base: Fraction = Fraction(1, 30)
    frames: int = 0
    """Frames the source declares (0: unknown, e.g. a camera or a stream)."""
    audio: str | None = None
    """Where the audio to copy into a video output comes from (the input file), or None."""
    live: bool = False
    """Frames arrive on a clock (camera, real-time replay): queues drop instead of blocking."""
    label: str = ""
    """What the user named as input (for messages and stats)."""
    rotation: int = 0
    """Display rotation in degrees the container asks for (already applied to the frames)."""

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def duration_s(self) -> float | None:
        return float(self.frames / self.fps) if self.frames and self.fps else None


@dataclass(slots=True)
class ObjectMasks:
    """Per-object results of a model that tracks objects (SAM 2), at the frame's resolution."""

    obj_ids: list[int]
    logits: np.ndarray
    """(objects, H, W) float32 mask logits (> 0: inside the object)."""
    scores: np.ndarray
    """(objects,) float32 object-presence logits (> 0: present)."""
    low_res_logits: np.ndarray | None = None
    """(objects, 1, s, s) the model's own low-resolution logits, where it has them."""

    @property
    def masks(self) -> np.ndarray:
        """(objects, H, W) bool: logits > 0."""
        return self.logits > 0

    def id_map(self) -> np.ndarray:
        """(H, W) uint8 with each pixel's object id (0 background); the last object wins overlaps.

        >>> m = ObjectMasks([1, 2], np.array([[[1.0, -1.0]], [[-1.0, 2.0]]], np.float32), np.zeros(2, np.float32))
        >>> m.id_map().tolist()
        [[1, 2]]
        """
        return id_map(zip(self.obj_ids, self.masks, strict=True), self.logits.shape[-2:])


@dataclass(slots=True)
class MaskResult:
    """What a segmenter returns for one frame.

    ``alpha`` is float32 in 0..1, (h, w) at the model's, a working or the frame's resolution (the
    segment stage brings it to the frame's); ``index`` is the frame it belongs to (a live SAM 2
    result may belong to the frame the user clicked on, not the newest). ``objects`` holds the
    per-object logits and scores of models that track objects.
    """

    index: int
    alpha: np.ndarray
    objects: ObjectMasks | None = None


MASK_READY = "mask.ready"
"""``Frame.stamps`` key: when the mask attached to the frame finished (perf_counter seconds)."""
MASK_SOURCE_T_IN = "mask.t_in"
"""``Frame.stamps`` key: ``t_in`` of the frame the attached mask was computed from."""
NEWEST_MASK = "newest_mask"
"""``Frame.extras`` key: the :class:`MaskState` a live segment stage attached to the frame."""
UNCHANGED = "unchanged"
"""``Frame.extras`` key: True when the change gate found no region of the frame changed since the last
segmented frame (so the last mask holds as it is, without optical flow)."""

@dataclass(frozen=True)
class MaskState:
    """The newest mask of a live run: alpha at frame resolution (read-only, shared by several frames)."""

    alpha: np.ndarray
    index: int
    t_in: float
    t_ready: float
    objects: ObjectMasks | None = None
    prepared: object | None = None
    """What the stage's ``prepare`` made of the mask in the worker (the carry stage's catch-up)."""


@dataclass(slots=True)
class Frame:
    """One video frame and everything the stages attach to it.

    ``image`` is RGB uint8 with shape (H, W, 3). ``pts`` is the presentation timestamp in units of
    ``time_base`` (as the container stored it), so a file sink can keep the input's timing exactly.
    ``stamps`` maps ``"<stage>.start"`` / ``"<stage>.end"`` to :func:`time.perf_counter` values; the
    runner derives per-stage cost and end-to-end latency from them.

    >>> f = Frame(np.zeros((2, 2, 3), np.uint8), index=0, pts=0, time_base=Fraction(1, 30))
    >>> f.timestamp
    0.0
    """

    image: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction | None = None
    name: str | None = None
    """Stem of the source file for image-folder input (``00000`` for ``00000.jpg``)."""
    alpha: np.ndarray | None = None
    """Foreground alpha, float32 in 0..1, (H, W) at frame resolution once the mask stages have run."""
    objects: ObjectMasks | None = None
    """Per-object masks of models that track objects (SAM 2)."""
    output: np.ndarray | None = None
    """The composited image (RGB, or RGBA for cutout) once an effect has run."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Per-frame data of specialised stages (e.g. the carry age), keyed by name."""
    t_in: float = field(default_factory=time.perf_counter)
    stamps: dict[str, float] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def timestamp(self) -> float | None:
        """Presentation time in seconds, or None if the source has no timing."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def timestamp_ms(self) -> int | None:
        ts = self.timestamp
        return None if ts is None else int(ts * 1000)

    @property
    def result(self) -> np.ndarray:
        """What a video sink should show: the composite if there is one, else the input image."""
        return self.output if self.output is not None else self.image
