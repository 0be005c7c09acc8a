"""Frame sinks: video files (PyAV), PNG folders, mask PNGs, null."""

from rtseg.sinks.images import MaskSink, PngFolderSink, frame_filename
from rtseg.sinks.null import NullSink
from rtseg.sinks.video import EncoderSettings, VideoFileSink

__all__ = ["EncoderSettings", "MaskSink", "NullSink", "PngFolderSink", "VideoFileSink", "frame_filename"]
