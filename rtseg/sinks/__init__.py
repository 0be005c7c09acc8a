"""Frame sinks: video files (PyAV), PNG folders, mask PNGs, per-object files, virtual camera, preview, null."""

from rtseg.sinks.images import MaskSink, PngFolderSink, davis_palette, frame_filename
from rtseg.sinks.null import NullSink
from rtseg.sinks.objects import ObjectFilesSink, rle_decode, rle_encode
from rtseg.sinks.video import EncoderSettings, VideoFileSink

__all__ = ["EncoderSettings", "MaskSink", "NullSink", "ObjectFilesSink", "PngFolderSink", "VideoFileSink",
           "davis_palette", "frame_filename", "rle_decode", "rle_encode"]
