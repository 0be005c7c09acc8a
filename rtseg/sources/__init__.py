"""Frame sources: video files and URLs (PyAV), image folders, a synthetic pattern."""

from __future__ import annotations

import re
from pathlib import Path

from rtseg.graph.stage import SourceStage
from rtseg.sources.images import ImageFolderSource
from rtseg.sources.synthetic import SyntheticSource
from rtseg.sources.video import VideoFileSource

_SYNTH = re.compile(r"^synthetic(?::(\d+)x(\d+))?(?:@(\d+))?$")


def open_source(spec: str) -> SourceStage:
    """Pick the source for ``spec``: a folder of images, ``synthetic[:WxH][@FRAMES]``, or a video.

    >>> open_source("synthetic:320x240@10").frames
    10
    """
    m = _SYNTH.match(spec)
    if m:
        w, h, n = m.groups()
        return SyntheticSource(int(w or 1280), int(h or 720), frames=int(n or 300))
    if Path(spec).is_dir():
        return ImageFolderSource(spec)
    return VideoFileSource(spec)


__all__ = ["ImageFolderSource", "SyntheticSource", "VideoFileSource", "open_source"]
