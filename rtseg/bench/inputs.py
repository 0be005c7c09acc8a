"""Benchmark inputs: a real clip as given, or a synthetic clip rendered once to an H.264 file.

Both rtseg and the baseline then decode the same file, so a synthetic benchmark still measures
decoding, exactly as a real clip does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from rtseg.errors import SourceError
from rtseg.frame import Frame
from rtseg.graph import Pipeline
from rtseg.sinks.video import EncoderSettings, VideoFileSink
from rtseg.sources.synthetic import SyntheticSource
from rtseg.sources.video import VideoFileSource

SYNTHETIC_ENCODER = EncoderSettings(options={"crf": "18", "preset": "veryfast"})
"""High quality, so the synthetic clip's decode cost resembles a camera or phone recording's."""


@dataclass
class ClipInfo:
    """The clip a workload reads."""

    path: str
    synthetic: bool
    width: int
    height: int
    frames: int
    fps: float

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = round(self.fps, 3)
        return d


def probe_clip(path: str, *, synthetic: bool = False) -> ClipInfo:
    """Size, frame count (counted by decoding when the container does not say) and frame rate."""
    src = VideoFileSource(path)
    with src:
        frames = src.declared_frames
        if not frames:
            frames = sum(1 for _ in iter(src.read, None))
        return ClipInfo(path, synthetic, src.width, src.height, frames, float(src.fps))


def render_synthetic(directory: Path, width: int, height: int, frames: int, fps: float = 30.0) -> ClipInfo:
    """Write ``frames`` synthetic frames to ``directory/synthetic-WxH-N.mp4`` (once; reused after)."""
    path = directory / f"synthetic-{width}x{height}-{frames}.mp4"
    if not path.exists():
        sink = VideoFileSink(path, fps=Fraction(fps).limit_denominator(1001), settings=SYNTHETIC_ENCODER)
        Pipeline(SyntheticSource(width, height, frames=frames, fps=fps), [], sink).run()
    return probe_clip(str(path), synthetic=True)


def scaled_clip(clip: ClipInfo, directory: Path, width: int, height: int) -> ClipInfo:
    """``clip`` re-encoded at width x height (bilinear scaling, CRF 18), once: a 1080p camera stand-in
    made from the benchmark's own clip, so the live workloads at both sizes see the same scene."""
    if (clip.width, clip.height) == (width, height):
        return clip
    path = directory / f"{Path(clip.path).stem}-{width}x{height}.mp4"
    if not path.exists():
        import cv2

        from rtseg.graph.stage import ProcessStage

        class Scale(ProcessStage):
            name = "scale"

            def process(self, frame: Frame) -> Frame:
                frame.image = cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_LINEAR)
                return frame

        sink = VideoFileSink(path, settings=SYNTHETIC_ENCODER)
        Pipeline(VideoFileSource(clip.path), [Scale()], sink).run()
    return probe_clip(str(path), synthetic=clip.synthetic)


def real_clip(path: str) -> ClipInfo:
    """Probe a user-given clip, failing early with a clear message."""
    if not Path(path).is_file():
        raise SourceError(f"benchmark input not found: {path}")
    return probe_clip(path)
