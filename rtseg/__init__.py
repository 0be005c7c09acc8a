"""rtseg: real-time video segmentation pipelines (source → segment → mask → carry → composite → sinks).

The same jobs as the ``rtseg`` command, from Python::

    import rtseg
    rtseg.blur("in.mp4", "out.mp4", strength=30)                      # same file as `rtseg blur`
    for r in rtseg.segment_video("in.mp4"):                           # r.index, r.image, r.alpha
        ...
    with rtseg.open_segmenter("selfie") as seg:                       # per frame, ROI + smoothing
        alpha = seg(rgb_frame)
    for f in rtseg.track("clip.mp4", model_dir, points={1: [(x, y)]}):  # per-object masks per frame
        ...
    rtseg.run(rtseg.JobSpec.from_toml("configs/blur.toml"))           # any job, as `rtseg run`
    rtseg.batch(["clips/"], "configs/blur.toml", "out/", workers=2)   # many files, as `rtseg batch`

Your own sink: ``for frame in rtseg.build(spec).frames(): ...``, or compose a
:class:`~rtseg.graph.Pipeline` from stages and iterate its ``frames()``.

>>> import rtseg
>>> rtseg.__version__  # doctest: +ELLIPSIS
'0.1...'
"""

from rtseg.api import (
                       FrameSegmenter,
                       SegmentResult,
                       TrackFrame,
                       blur,
                       cutout,
                       open_segmenter,
                       replace,
                       run,
                       segment_video,
                       track,
)
from rtseg.batching import batch
from rtseg.errors import ConfigError, ModelError, PipelineError, RtsegError, SinkError, SourceError
from rtseg.frame import Frame, MaskResult, ObjectMasks, StreamInfo
from rtseg.graph import Pipeline, RunStats
from rtseg.jobs import JobSpec, Overrides, build
from rtseg.segment import Segmenter, model_names
from rtseg.version import __version__

__all__ = ["ConfigError", "Frame", "FrameSegmenter", "JobSpec", "MaskResult", "ModelError", "ObjectMasks", "Overrides",
           "Pipeline", "PipelineError", "RtsegError", "RunStats", "SegmentResult", "Segmenter", "SinkError",
           "SourceError", "StreamInfo", "TrackFrame", "__version__", "batch", "blur", "build", "cutout", "model_names",
           "open_segmenter", "replace", "run", "segment_video", "track"]
