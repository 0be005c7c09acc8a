"""Prompts for models that track objects (SAM 2): points, boxes and masks on a frame, and live clicks.

A :class:`Prompt` is one call (points with labels, a box, or a mask, for one object on one frame), in
video pixels, and the one place a prompt is checked. Every surface only reads its own shape into one:
:func:`parse_point` / :func:`parse_box` read ``X,Y[,LABEL]`` / ``X0,Y0,X1,Y1`` text (the CLI, CSV
manifests), :func:`prompt_from_dict` reads the keys of a prompt written as data (``--prompts`` JSON via
:func:`load_prompts_file`, batch manifests, ``[model] prompts`` in a job), and
:func:`prompt_to_dict` writes one back as job keys. Live, clicks arrive through a
:class:`PromptFeed` (the preview window's controls implement it): a :class:`PromptState` whose
``clicks`` only grow until a clear starts a new ``generation``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from rtseg.errors import ConfigError

# --- prompts ----------------------------------------------------------------------------------------


MAX_OBJECT_ID = 255
"""Object ids are 1..255: an id map (one byte per pixel, 0 background) holds every object."""
INCLUDE = 1
EXCLUDE = 0
"""Point labels: SAM 2's 1 (the object is here) and 0 (it is not)."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return v


def _is_sequence(value: Any) -> bool:
    """A list, tuple or array of values (not text, not a dict, whose [0] is a key)."""
    return isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes)


def _index(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt for one object on one frame: points with labels, a box, and/or a mask, in video pixels.

    Every surface (``--point``/``--box``/``--mask``, ``--prompts`` JSON, batch manifests, job specs, the
    Python API, the studio's requests, live clicks) parses into this one type, and its checks live
    here: what can be checked alone when it is made (object id 1..255, frame >= 0, finite coordinates,
    labels 1 include / 0 exclude, one per point, an ordered box, at least one of points, box or mask),
    and :meth:`check_frame` once the frame's size is known (inside the frame, mask size). Each check
    raises :class:`~rtseg.errors.ConfigError` with the one message every surface shows.

    ``add`` appends the points to the object's earlier points on the same frame (live clicks) instead of
    replacing them; a box cannot be added that way (SAM 2 takes a box only as the first input).

    >>> Prompt(frame=0, obj_id=1, points=[(420, 270)]).labels
    (1,)
    >>> Prompt(points=[(1, 2)], labels=[2])
    Traceback (most recent call last):
    rtseg.errors.ConfigError: prompt for object 1 on frame 0: point labels must be 0 (exclude) or 1 (include), got [2]
    """

    frame: int = 0
    obj_id: int = 1
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    mask: Path | np.ndarray | None = field(default=None, compare=False)
    """A mask PNG (every non-zero pixel is the object) or a (H, W) array at the video's resolution."""
    add: bool = False

    def __post_init__(self) -> None:
        frame = _index(self.frame, "prompt frame")
        obj = _index(self.obj_id, "object id")
        where = f"prompt for object {obj} on frame {frame}"
        if frame < 0:
            raise ConfigError(f"prompt frame must be >= 0, got {frame}")
        if not 1 <= obj <= MAX_OBJECT_ID:
            raise ConfigError(f"object id must be in 1..{MAX_OBJECT_ID}, got {obj}")
        try:
            raw_points = list(self.points)
            raw_labels = list(self.labels)
        except TypeError:
            raise ConfigError(f"{where}: points and labels must be lists") from None
        points: list[tuple[float, float]] = []
        for p in raw_points:
            if not _is_sequence(p) or len(p) != 2:
                raise ConfigError(f"{where}: a point must be [x, y], got {p!r}")
            points.append((_number(p[0], "a point's x"), _number(p[1], "a point's y")))
        labels = [_index(v, "a point label") for v in raw_labels] if raw_labels else [1] * len(points)
        if len(labels) != len(points):
            raise ConfigError(f"{where}: {len(points)} points but {len(labels)} labels")
        if any(v not in (0, 1) for v in labels):
            raise ConfigError(f"{where}: point labels must be 0 (exclude) or 1 (include), got {labels}")
        box = None
        if self.box is not None:
            if not _is_sequence(self.box) or len(self.box) != 4:
                raise ConfigError(f"{where}: a box must be [x0, y0, x1, y1], got {self.box!r}")
            x0, y0, x1, y1 = (_number(v, "a box coordinate") for v in self.box)
            if x1 < x0 or y1 < y0:
                raise ConfigError(f"{where}: box must be x0,y0,x1,y1 with x0<=x1 and y0<=y1, got {[x0, y0, x1, y1]}")
            box = (x0, y0, x1, y1)
            if self.add:
                raise ConfigError(f"{where}: a box must come first: it cannot be added to earlier points")
        mask = self.mask
        if isinstance(mask, str):
            mask = Path(mask)
        if mask is not None and not isinstance(mask, Path):
            mask = np.asarray(mask)
            if mask.ndim != 2:
                raise ConfigError(f"{where}: a mask prompt must be 2-D (H, W), got shape {mask.shape}")
            mask = mask > 0
        if not points and box is None and mask is None:
            raise ConfigError(f"{where}: a prompt needs points, a box or a mask")
        for name, value in (("frame", frame), ("obj_id", obj), ("points", tuple(points)), ("labels", tuple(labels)),
                            ("box", box), ("mask", mask), ("add", bool(self.add))):
            object.__setattr__(self, name, value)

    def check_frame(self, width: int, height: int) -> None:
        """Raise a ConfigError if a point or a box corner lies outside a ``width`` x ``height`` frame, or a
        mask array is another size."""
        coords = [*self.points, *([self.box[:2], self.box[2:]] if self.box is not None else [])]
        for x, y in coords:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ConfigError(f"prompt point ({x:g}, {y:g}) for object {self.obj_id} on frame {self.frame} is "
                                  f"outside the frame ({width}x{height}: expected 0<=x<={width}, 0<=y<={height})")
        if isinstance(self.mask, np.ndarray) and self.mask.shape != (height, width):
            raise ConfigError(f"mask prompt for object {self.obj_id} on frame {self.frame} is "
                              f"{self.mask.shape[1]}x{self.mask.shape[0]}, the frame {width}x{height}")

    def mask_array(self) -> np.ndarray | None:
        """The mask as a (H, W) bool array (a PNG is read here), or None."""
        if self.mask is None:
            return None
        if isinstance(self.mask, Path):
            return read_mask_png(self.mask)
        return self.mask

    def on_frame(self, frame: int) -> Prompt:
        """The same prompt on another frame (live: the job's prompts apply to the first frame seen)."""
        return dataclasses.replace(self, frame=frame)


def read_mask_png(path: Path) -> np.ndarray:
    """A mask prompt image: every non-zero pixel is the object."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L") if img.mode not in ("L", "P", "1") else img)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read mask prompt {path}: {exc}") from exc
    return arr > 0


PROMPT_KEYS = ("frame", "object", "points", "labels", "box", "mask", "add")
"""The keys of a prompt written as data: ``--prompts`` JSON, a manifest's ``prompts``, ``[model] prompts``."""


def prompt_from_dict(data: Any, base: Path | None = None) -> Prompt:
    """A :class:`Prompt` from its keys (:data:`PROMPT_KEYS`): the one reader of prompts written as data.

    ``points`` are ``[x, y]`` in the input's pixels, ``labels`` 1 (include) / 0 (exclude) and default to 1,
    ``frame`` defaults to 0 and ``object`` to 1; ``mask`` is a PNG path, relative to ``base`` if given;
    ``add: true`` joins the points to the object's earlier points on the frame (clicks one after another,
    as the studio records them). Only the shape is read here: the values are the :class:`Prompt`'s to check.

    >>> prompt_from_dict({"object": 2, "box": [400, 100, 700, 400]}).box
    (400.0, 100.0, 700.0, 400.0)
    >>> prompt_from_dict({"points": [[1, 2]], "labels": [2]})
    Traceback (most recent call last):
    rtseg.errors.ConfigError: prompt for object 1 on frame 0: point labels must be 0 (exclude) or 1 (include), got [2]
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"a prompt must be an object with keys {', '.join(PROMPT_KEYS)}, got {data!r}")
    unknown = set(data) - set(PROMPT_KEYS)
    if unknown:
        raise ConfigError(f"a prompt has unknown keys {sorted(map(str, unknown))}; expected {sorted(PROMPT_KEYS)}")
    mask = data.get("mask")
    if mask is not None and not isinstance(mask, str | PathLike):
        raise ConfigError(f"a prompt's mask must be the path of a PNG, got {mask!r}")
    add = data.get("add", False)
    if not isinstance(add, bool):
        raise ConfigError(f"a prompt's add must be true or false, got {add!r}")
    return Prompt(frame=data.get("frame", 0), obj_id=data.get("object", 1), points=data.get("points", ()),
                  labels=data.get("labels", ()), box=data.get("box"), mask=Path(base or "", mask) if mask else None,
                  add=add)


def prompt_to_dict(prompt: Prompt) -> dict[str, Any]:
    """The keys :func:`prompt_from_dict` reads back into an equal prompt (a job spec's ``[model] prompts``).

    >>> prompt_to_dict(Prompt(frame=3, obj_id=2, points=[(10, 20)], labels=[0]))
    {'frame': 3, 'object': 2, 'points': [[10.0, 20.0]], 'labels': [0]}
    """
    data: dict[str, Any] = {"frame": prompt.frame, "object": prompt.obj_id}
    if prompt.points:
        data.update(points=[list(p) for p in prompt.points], labels=list(prompt.labels))
    if prompt.box is not None:
        data["box"] = list(prompt.box)
    if isinstance(prompt.mask, np.ndarray):
        raise ConfigError(f"a mask array for object {prompt.obj_id} cannot be written as a job's prompt: give a PNG")
    if prompt.mask is not None:
        data["mask"] = str(prompt.mask)
    if prompt.add:
        data["add"] = True
    return data


def _text_number(text: str) -> float | int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_point(text: str) -> tuple[float, float, float | int]:
    """``"X,Y"`` or ``"X,Y,LABEL"`` (``--point``, a CSV manifest's ``points``) as numbers; the label
    defaults to 1. A ValueError if it is not two or three numbers; the values are the :class:`Prompt`'s to
    check (``"3,4,2"`` parses, and ``Prompt`` refuses the label).

    >>> parse_point("640,360"), parse_point("10,20,0"), parse_point("3,4,2")
    ((640.0, 360.0, 1), (10.0, 20.0, 0), (3.0, 4.0, 2))
    """
    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise ValueError(f"expected X,Y[,LABEL], got {text!r}")
    x, y = float(parts[0]), float(parts[1])
    return x, y, _text_number(parts[2]) if len(parts) == 3 else INCLUDE


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"X0,Y0,X1,Y1"`` (``--box``, a CSV manifest's ``boxes``) as numbers; a ValueError if it is not four.

    >>> parse_box("1,2,30,40")
    (1.0, 2.0, 30.0, 40.0)
    """
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"expected X0,Y0,X1,Y1, got {text!r}")
    x0, y0, x1, y1 = (float(v) for v in parts)
    return x0, y0, x1, y1


def load_prompts_file(path: Path) -> list[Prompt]:
    """Read ``--prompts FILE.json``: a list of prompts, each read by :func:`prompt_from_dict` (keys
    ``frame``, ``object``, ``points``, ``labels``, ``box``, ``mask``; ``mask`` relative to the JSON file).

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
    prompts = []
    for i, item in enumerate(data):
        try:
            prompts.append(prompt_from_dict(item, Path(path).parent))
        except ConfigError as exc:
            raise ConfigError(f"{path}: prompt {i}: {exc}") from None
    return prompts


# --- live clicks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewClick:
    """One click on the live preview window, in video pixels, with the index of the frame it was made on."""

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

    clicks: tuple[PreviewClick, ...] = ()
    generation: int = 0


class PromptFeed(Protocol):
    """Where a live segmenter reads clicks from (the preview window's controls implement it)."""

    @property
    def state(self) -> PromptState: ...

    def shown(self, frame: int) -> Any:
        """The frame that was on screen when frame ``frame`` was clicked, if it is still known."""
        ...
