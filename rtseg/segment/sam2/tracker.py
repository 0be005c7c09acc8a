"""SAM 2-family masklet propagation in one object: a :class:`TrackerModel` and its :class:`StreamingState`.

:class:`Sam2Tracker` is the convenient way to track one video forward (scripts, benchmarks, the
profiler): it opens the model, keeps one streaming state on it and takes prompts as keywords. The
pipeline's segmenter, the studio and batch workers use the model and the state holders directly.
See :mod:`rtseg.segment.sam2.streaming` for what tracking reproduces of ``SAM2VideoPredictor``.

>>> with Sam2Tracker("models/sam2-tiny", num_frames=100) as tracker:  # doctest: +SKIP
...     tracker.add_points(0, obj_id=1, points=[(420, 270)], labels=[1])
...     result = tracker.track(first_rgb_frame, 0)
...     result.masks.shape          # (objects, H, W) bool at the frame's resolution
(1, 540, 960)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from rtseg.segment.prompts import Prompt
from rtseg.segment.providers import GpuOptions, Provider, ProviderChoice
from rtseg.segment.sam2.model import Features, TrackerModel, TrackResult
from rtseg.segment.sam2.streaming import StreamingState


class Sam2Tracker:
    """Track objects through a video with an exported SAM 2 or EdgeTAM model.

    The options are :class:`TrackerModel`'s; ``num_frames`` is the video's length when known (see
    :class:`StreamingState`).
    """

    def __init__(self, model_dir: str | Path, *, provider: str | Provider = Provider.AUTO,
                 intra_op_threads: int | None = None, num_frames: int | None = None, verify_checksums: bool = True,
                 spinning: bool = False, io_binding: bool | None = None, gpu: GpuOptions | None = None) -> None:
        self.model = TrackerModel(model_dir, provider=provider, intra_op_threads=intra_op_threads,
                                  verify_checksums=verify_checksums, spinning=spinning, io_binding=io_binding, gpu=gpu)
        self.state = StreamingState(self.model, num_frames)

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> Sam2Tracker:
        """Check the model folder and create the ONNX Runtime sessions."""
        self.model.open()
        return self

    def reset(self) -> None:
        """Forget the video (prompts, objects, memory, frame size); the sessions stay, so the next video
        costs no checksum pass and no session creation. ``timings`` start from zero."""
        self.state.reset(self.state.num_frames)
        self.model.timings.clear()

    def close(self) -> None:
        """Release the sessions and all memory (``timings`` stay readable). Idempotent."""
        self.model.close()
        self.state.reset(self.state.num_frames)

    def __enter__(self) -> Sam2Tracker:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- what the model and the state say ------------------------------------------------------------

    @property
    def num_frames(self) -> int | None:
        return self.state.num_frames

    @num_frames.setter
    def num_frames(self, value: int | None) -> None:
        self.state.num_frames = value

    @property
    def obj_ids(self) -> list[int]:
        return self.state.obj_ids

    @property
    def settings(self) -> dict[str, Any]:
        """The model's settings from its manifest (``num_maskmem``, ...); needs :meth:`open`."""
        return dict(self.model.settings)

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent in each graph since the last :meth:`reset`."""
        return self.model.timings

    @property
    def provider_choice(self) -> ProviderChoice | None:
        return self.model.provider_choice

    @property
    def io_binding(self) -> bool | None:
        return self.model.io_binding

    def memory_size(self) -> int:
        """Bytes held in the memory bank (for checking that it stays bounded)."""
        return self.state.memory_size()

    def encode_image(self, rgb: np.ndarray) -> Features:
        """Run the image encoder on one frame (a warm-up, or a measurement)."""
        return self.model.encode_image(rgb)

    # -- prompts and tracking ----------------------------------------------------------------------

    def add_prompt(self, prompt: Prompt) -> None:
        """Queue a :class:`Prompt` for its frame (which must not have been tracked yet)."""
        self.state.add_prompt(prompt)

    def add_points(self, frame_idx: int, obj_id: int, points: Sequence[Sequence[float]] | np.ndarray,
                   labels: Sequence[int] | np.ndarray, *, box: Sequence[float] | None = None,
                   clear_old_points: bool = True) -> None:
        """Clicks (label 1 include, 0 exclude) and/or a box (x0, y0, x1, y1) for one object, like
        ``add_new_points_or_box``; ``clear_old_points`` False adds to the frame's earlier points."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        self.add_prompt(Prompt(frame=frame_idx, obj_id=obj_id, points=tuple((x, y) for x, y in pts.tolist()),
                               labels=tuple(np.asarray(labels).reshape(-1).tolist()),
                               box=None if box is None else tuple(box), add=not clear_old_points))  # type: ignore[arg-type]

    def add_box(self, frame_idx: int, obj_id: int, box: Sequence[float]) -> None:
        """A box prompt (x0, y0, x1, y1 in video pixels)."""
        self.add_prompt(Prompt(frame=frame_idx, obj_id=obj_id, box=tuple(box)))  # type: ignore[arg-type]

    def add_mask(self, frame_idx: int, obj_id: int, mask: np.ndarray) -> None:
        """A mask prompt (bool or 0/1 array at the video's resolution)."""
        self.add_prompt(Prompt(frame=frame_idx, obj_id=obj_id, mask=np.asarray(mask)))

    def remove_object(self, obj_id: int) -> None:
        self.state.remove_object(obj_id)

    def track(self, rgb: np.ndarray, frame_idx: int | None = None) -> TrackResult:
        """Apply the prompts queued for this frame and track every object on it."""
        return self.state.track(rgb, frame_idx)

    def to_video_resolution(self, low: np.ndarray) -> np.ndarray:
        """(N, 1, s, s) logits → (N, H, W) at the size of the frames tracked so far."""
        if self.state.video_hw is None:
            raise RuntimeError("no frame tracked yet: the video's size is unknown")
        return self.model.to_video_resolution(low, self.state.video_hw)


__all__ = ["Sam2Tracker", "TrackResult"]
