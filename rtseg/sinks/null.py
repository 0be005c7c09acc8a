"""A sink that discards frames (benchmarks measure the pipeline without encoding)."""

from __future__ import annotations

from rtseg.frame import Frame
from rtseg.graph.stage import SinkStage


class NullSink(SinkStage):
    name = "null"

    def __init__(self) -> None:
        self.count = 0

    def process(self, frame: Frame) -> None:
        self.count += 1
