"""The stage-graph runtime: stages, bounded queues, the threaded runner and its statistics."""

from rtseg.graph.pipeline import Pipeline
from rtseg.graph.queues import EOS, BoundedQueue, Policy
from rtseg.graph.stage import FanOutSink, ProcessStage, SinkStage, SourceStage, Stage
from rtseg.graph.stats import RunStats

__all__ = ["EOS", "BoundedQueue", "FanOutSink", "Pipeline", "Policy", "ProcessStage", "RunStats",
           "SinkStage", "SourceStage", "Stage"]
