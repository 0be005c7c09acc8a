"""Frame sources: video files and URLs (PyAV), image folders, cameras, real-time replay, synthetic.

:func:`open_source` turns what a user typed as INPUT into a source stage.
"""

from __future__ import annotations

import re
from pathlib import Path

from rtseg.graph.stage import SourceStage
from rtseg.sources.images import ImageFolderSource, is_still_image
from rtseg.sources.media import SAMPLE_NAME, sample_path
from rtseg.sources.synthetic import SyntheticSource
from rtseg.sources.video import VideoFileSource

_SYNTH = re.compile(r"^synthetic(?::(\d+)x(\d+))?(?:@(\d+))?$")


def is_special_input(spec: str) -> bool:
    """True for inputs that name no file: ``sample``, ``synthetic[...]`` or a URL.

    >>> is_special_input("sample"), is_special_input("synthetic:64x48@3"), is_special_input("clip.mp4")
    (True, True, False)
    """
    return spec == SAMPLE_NAME or bool(_SYNTH.match(spec)) or "://" in spec


def resolve_input(spec: str) -> str:
    """The path a file source reads for ``spec`` (``sample`` is the bundled clip).

    >>> resolve_input("sample").endswith("sample.mp4")
    True
    """
    return str(sample_path()) if spec == SAMPLE_NAME else spec


def open_source(spec: str) -> SourceStage:
    """Pick the source for ``spec``: ``sample``, a folder of images, ``synthetic[:WxH][@FRAMES]``, or a video.

    >>> open_source("synthetic:320x240@10").frames
    10
    """
    m = _SYNTH.match(spec)
    if m:
        w, h, n = m.groups()
        return SyntheticSource(int(w or 1280), int(h or 720), frames=int(n or 300))
    if spec == SAMPLE_NAME:
        return VideoFileSource(sample_path(), label=SAMPLE_NAME)
    if Path(spec).is_dir() or is_still_image(Path(spec)):
        return ImageFolderSource(spec)
    return VideoFileSource(spec)


__all__ = ["SAMPLE_NAME", "ImageFolderSource", "SyntheticSource", "VideoFileSource", "is_special_input",
           "open_source", "resolve_input", "sample_path"]
