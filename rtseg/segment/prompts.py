"""Prompts for models that track objects (SAM 2): points, boxes and masks on a frame, and live clicks.

A :class:`Prompt` is one call (points with labels, a box, or a mask, for one object on one frame), in
video pixels; :func:`load_prompts_file` reads a list of them from JSON. Live, clicks arrive through a
:class:`PromptFeed` (the preview window's controls implement it): a :class:`PromptState` whose
``clicks`` only grow until a clear starts a new ``generation``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from rtseg.errors import ConfigError

# --- prompts ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Prompt:
    """One prompt call: points (with labels), a box, or a mask, for one object on one frame."""

    frame: int = 0
    obj_id: int = 1
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: Path | None = None

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = [1] * len(self.points)
        if len(self.labels) != len(self.points):
            raise ConfigError(f"prompt for object {self.obj_id}: {len(self.points)} points but "
                              f"{len(self.labels)} labels")
        if any(v not in (0, 1) for v in self.labels):
            raise ConfigError(f"prompt labels must be 0 (exclude) or 1 (include), got {self.labels}")
        if not 1 <= self.obj_id <= 255:
            raise ConfigError(f"object id must be in 1..255, got {self.obj_id}")
        if self.frame < 0:
            raise ConfigError(f"prompt frame must be >= 0, got {self.frame}")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if x1 < x0 or y1 < y0:
                raise ConfigError(f"box must be x0,y0,x1,y1 with x0<=x1 and y0<=y1, got {list(self.box)}")

    @property
    def empty(self) -> bool:
        return self.mask is None and not self.points and self.box is None

    def check_inside(self, width: int, height: int) -> None:
        """Raise a ConfigError if a point or the box lies outside a ``width`` x ``height`` frame."""
        coords = [*self.points, *([self.box[:2], self.box[2:]] if self.box is not None else [])]
        for x, y in coords:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ConfigError(f"prompt point ({x:g}, {y:g}) for object {self.obj_id} is outside the "
                                  f"{width}x{height} frame (expected 0<=x<={width}, 0<=y<={height})")


def read_mask_png(path: Path) -> np.ndarray:
    """A mask prompt image: every non-zero pixel is the object."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L") if img.mode not in ("L", "P", "1") else img)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read mask prompt {path}: {exc}") from exc
    return arr > 0


def load_prompts_file(path: Path) -> list[Prompt]:
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
            spec = Prompt(
                frame=int(item.get("frame", 0)),
                obj_id=int(item.get("object", 1)),
                points=points,
                labels=labels,
                box=_box(box),
                mask=(Path(path).parent / item["mask"]) if item.get("mask") else None,
            )
        except ConfigError as exc:
            raise ConfigError(f"{path}: prompt {i}: {exc}") from None
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"{path}: prompt {i} is malformed ({exc}): {item!r}") from exc
        specs.append(spec)
    return specs


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    values = tuple(float(v) for v in value)
    if len(values) != 4:
        raise ValueError(f"box must be [x0, y0, x1, y1], got {value!r}")
    return values  # type: ignore[return-value]


# --- live clicks ------------------------------------------------------------------------------------

INCLUDE = 1
EXCLUDE = 0


@dataclass(frozen=True)
class Click:
    """One click in video pixels, with the index of the frame it was made on."""

    x: float
    y: float
    label: int
    """1 include, 0 exclude (SAM 2's point labels)."""
    frame: int


@dataclass(frozen=True)
class PromptState:
    """The clicks since the last clear.

    ``generation`` counts clears (a new generation means "forget the tracked object"); ``clicks``
    only grows within a generation, so a reader that remembers how many it applied knows which are new.
    """

    clicks: tuple[Click, ...] = ()
    generation: int = 0


class PromptFeed(Protocol):
    """Where a live segmenter reads clicks from (the preview window's controls implement it)."""

    @property
    def state(self) -> PromptState: ...

    def shown(self, frame: int) -> Any:
        """The frame that was on screen when frame ``frame`` was clicked, if it is still known."""
        ...
