"""The stage-graph runtime: stages, bounded queues, the threaded runner, clocks and statistics."""

from rtseg.graph.clock import Clock, MonotonicClock, SimulatedClock
from rtseg.graph.limiter import Admission, FlowLimiter
from rtseg.graph.pipeline import Pipeline
from rtseg.graph.queues import EOS, BoundedQueue, Policy, Stopped
from rtseg.graph.stage import ProcessStage, SinkStage, SourceStage, Stage, Worker
from rtseg.graph.stats import RunStats

__all__ = ["EOS", "Admission", "BoundedQueue", "Clock", "FlowLimiter", "MonotonicClock", "Pipeline",
           "Policy", "ProcessStage", "RunStats", "SimulatedClock", "SinkStage", "SourceStage", "Stage", "Stopped",
           "Worker"]
