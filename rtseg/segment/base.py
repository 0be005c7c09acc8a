"""The Segmenter protocol every model implements, and the scheduling policies of the segment stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.segment.prompts import Prompt


@runtime_checkable
class Segmenter(Protocol):
    """Frame in, :class:`~rtseg.frame.MaskResult` out.

    ``segment`` takes a frame (RGB uint8 image, index, timestamp) and returns the mask result for
    it, or for another frame it belongs to (a live SAM 2 result for the frame the user clicked), or
    None when there is nothing to segment yet (SAM 2 before any prompt). ``open``/``close`` load and
    free the model (``close`` idempotent; ``open`` may use the stream's info, e.g. its length);
    ``reset`` forgets everything learned from earlier frames
    (smoothing history, ROI, SAM 2's prompts and memory) and keeps the loaded model.
    """

    name: str

    def open(self, info: StreamInfo | None = None) -> None: ...

    def segment(self, frame: Frame) -> MaskResult | None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class TrackingStats:
    """What a promptable segmenter did on the current job (reported in a live run's stats)."""

    tracked_frames: int = 0
    clicked_frames: int = 0
    """Live: results computed on the frame the user clicked (not a later one)."""
    resets: int = 0


@runtime_checkable
class Promptable(Segmenter, Protocol):
    """A :class:`Segmenter` that tracks objects given by :class:`~rtseg.segment.prompts.Prompt` s (SAM 2,
    EdgeTAM): every caller that needs prompts asks for this protocol, never a concrete model.

    ``prompts`` are the job's: they apply again at every ``open`` (each video of a batch worker) and
    ``reset``. ``add_prompt`` queues one more for its frame (applied when that frame is segmented; a live
    segmenter applies it to the newest frame it can). ``remove_object`` forgets an object: its queued
    prompts and its memory. ``clear_frame`` takes back every prompt queued for a frame that has not been
    segmented yet.
    """

    prompts: list[Prompt]
    tracking: TrackingStats

    @property
    def obj_ids(self) -> list[int]: ...

    def add_prompt(self, prompt: Prompt) -> None: ...

    def remove_object(self, obj_id: int) -> None: ...

    def clear_frame(self, frame: int) -> None: ...


@dataclass(frozen=True)
class EveryKth:
    """Files: segment frames 0, K, 2K, … in order, in the stage's thread (deterministic).

    The frames between leave ``alpha`` None for the carry stage to fill.
    """

    k: int = 1

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"infer_every must be >= 1, got {self.k}")


@dataclass(frozen=True)
class NewestFrame:
    """Live: segment the newest frame in a worker thread behind a flow limiter (one in flight).

    Every frame goes on with the newest mask: its own if it is ready within ``max_wait_s``, else the
    newest one (an older frame's, for the carry stage to move). ``max_in_queue`` frames may wait
    behind the one in inference (0: MediaPipe's default, drop at once). ``warmup`` runs one inference
    on a blank frame at ``open()`` so the first frames do not pay for the model's first run.
    """

    max_wait_s: float = 0.02
    max_in_queue: int = 0
    warmup: bool = True


Schedule = EveryKth | NewestFrame
