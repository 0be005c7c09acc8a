"""Per-frame and per-graph timing of :class:`~rtseg.segment.sam2.tracker.Sam2Tracker`.

One object is prompted with a click (the frame centre unless given) on the first frame, then every
frame is tracked and timed. The first frame (a conditioning frame, plus the sessions' first-run
costs) is reported apart; "steady" frames are those whose memory bank is full (frame index >=
``num_maskmem``), the cost a long video settles at. Used by ``rtseg bench``'s ``sam2`` workload and
by ``benchmarks/sam2_speed.py``.

>>> from rtseg.tools.sam2.profile import profile_tracker      # doctest: +SKIP
>>> p = profile_tracker("models/sam2-tiny", "frames/", n_frames=12)  # doctest: +SKIP
>>> p.graphs_ms["memory_attention"]                                  # doctest: +SKIP
168.7
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtseg.errors import ConfigError
from rtseg.segment.providers import Provider
from rtseg.segment.sam2.manifest import GRAPH_FILES
from rtseg.segment.sam2.ops import load_frame
from rtseg.segment.sam2.tracker import Sam2Tracker

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(slots=True)
class TrackerProfile:
    """Timing of one tracking run (milliseconds)."""

    model_dir: str
    image_size: int
    frames: int
    """Frames tracked, including the first (prompted) one."""
    steady_frames: int
    provider: str
    threads: int | None
    first_frame_ms: float
    frame_ms: dict[str, float]
    """``median``/``mean``/``p90``/``max`` over frames 1.. (the first is reported apart)."""
    steady_frame_ms: float
    """Median over frames with a full memory bank (frames 1.. when there are none)."""
    graphs_ms: dict[str, float]
    """Median per-frame time of each ONNX graph over the same frames as ``steady_frame_ms``."""
    per_frame_ms: list[float] = field(default_factory=list)
    load_average: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _frames_from(source: str | Path | Iterable[np.ndarray], n_frames: int) -> Iterator[np.ndarray]:
    if isinstance(source, str | Path):
        folder = Path(source)
        if not folder.is_dir():
            raise ConfigError(f"expected a folder of frames (JPEG/PNG), got {folder}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(f"no JPEG/PNG frames in {folder}")
        for path in files[:n_frames]:
            yield load_frame(path)
        return
    for i, rgb in enumerate(source):
        if i >= n_frames:
            return
        yield rgb


def profile_tracker(
    model_dir: str | Path,
    frames: str | Path | Iterable[np.ndarray],
    n_frames: int = 20,
    *,
    point: tuple[float, float] | None = None,
    provider: str | Provider = Provider.AUTO,
    threads: int | None = None,
) -> TrackerProfile:
    """Track one clicked object through up to ``n_frames`` frames and time every graph call.

    ``frames`` is a folder of JPEG/PNG frames (sorted by name) or an iterable of RGB uint8 arrays
    (e.g. decoded video frames). ``point`` is the click in frame pixels (default: the centre).
    Raises :class:`~rtseg.errors.ConfigError` when fewer than two frames are available.
    """
    if n_frames < 2:
        raise ConfigError(f"n_frames must be >= 2 (the first frame is the prompt), got {n_frames}")
    per_frame: list[float] = []
    per_graph: list[dict[str, float]] = []
    with Sam2Tracker(model_dir, provider=provider, intra_op_threads=threads) as tracker:
        num_maskmem = int(tracker.settings["num_maskmem"])
        for i, rgb in enumerate(_frames_from(frames, n_frames)):
            if i == 0:
                h, w = rgb.shape[:2]
                tracker.add_points(0, obj_id=1, points=[point or (w / 2, h / 2)], labels=[1])
            tracker.timings.clear()
            t0 = time.perf_counter()
            tracker.track(rgb, i)
            per_frame.append(1000 * (time.perf_counter() - t0))
            per_graph.append({k: 1000 * v for k, v in tracker.timings.items()})
        provider = tracker.provider_choice.primary if tracker.provider_choice else "?"
        image_size = tracker.image_size
    if len(per_frame) < 2:
        raise ConfigError(f"need at least 2 frames to profile, got {len(per_frame)}")
    tracked = per_frame[1:]
    steady_idx = [i for i in range(1, len(per_frame)) if i >= num_maskmem] or list(range(1, len(per_frame)))
    ordered = sorted(tracked)
    return TrackerProfile(
        model_dir=str(model_dir),
        image_size=int(image_size),
        frames=len(per_frame),
        steady_frames=len(steady_idx),
        provider=provider,
        threads=threads,
        first_frame_ms=round(per_frame[0], 2),
        frame_ms={
            "median": round(statistics.median(tracked), 2),
            "mean": round(statistics.fmean(tracked), 2),
            "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
            "max": round(ordered[-1], 2),
        },
        steady_frame_ms=round(statistics.median(per_frame[i] for i in steady_idx), 2),
        graphs_ms={
            name: round(statistics.median(per_graph[i].get(name, 0.0) for i in steady_idx), 2)
            for name in GRAPH_FILES
        },
        per_frame_ms=[round(t, 2) for t in per_frame],
        load_average=os.getloadavg() if hasattr(os, "getloadavg") else None,
    )


__all__ = ["TrackerProfile", "profile_tracker"]
