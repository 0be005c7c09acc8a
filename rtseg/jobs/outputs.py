"""What a job writes: the output kinds, which jobs may have which, and the names each kind takes.

An output given by name alone (``-o OUTPUT`` on the command line, ``rtseg.blur(input, output)``, a batch
item's output, an old config's top-level ``output``) is of the kind :func:`output_kind` names: a folder
of PNGs for a name without a suffix, one PNG for ``NAME.png`` (a one-frame input), else a video file.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from rtseg.sinks.images import IMAGE_FILE_SUFFIX


class OutputKind(StrEnum):
    VIDEO = "video"
    """The composite as a video file (H.264 by default; VP9/ProRes with alpha for cutout)."""
    IMAGES = "images"
    """The composite as one PNG per frame in a folder."""
    MASKS = "masks"
    """One PNG per frame: alpha (0..255), or object ids with the DAVIS palette for SAM 2."""
    RLE = "rle"
    """SAM 2: one JSON file of COCO run-length masks per frame and object."""
    LOGITS = "logits"
    """SAM 2: one float32 .npy (objects x H x W) per frame in a folder."""
    VCAM = "vcam"
    PREVIEW = "preview"
    RECORD = "record"
    """Live: the output recorded to a video file."""
    NULL = "null"


FILE_KINDS = {OutputKind.VIDEO, OutputKind.IMAGES, OutputKind.MASKS, OutputKind.RLE, OutputKind.LOGITS}
"""The outputs of a file job (and ``null``)."""
LIVE_KINDS = {OutputKind.VCAM, OutputKind.PREVIEW, OutputKind.RECORD, OutputKind.NULL, OutputKind.VIDEO}
"""The outputs of a live job."""
OBJECT_KINDS = {OutputKind.RLE, OutputKind.LOGITS}
"""Outputs per tracked object: they need a model that tracks objects."""
FOLDER_KINDS = {OutputKind.IMAGES, OutputKind.MASKS, OutputKind.LOGITS}
"""Written to a folder (images and masks: or, for a one-frame input, to one PNG file)."""
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi")
"""Containers a video output may be written to."""
ALPHA_VIDEO_SUFFIXES = (".webm", ".mov")
"""Containers a cutout (a video with alpha) may be written to."""


def writes_images(path: str | os.PathLike[str]) -> bool:
    """True for a name images are written to: a folder (no suffix), or one PNG for a one-frame input."""
    return Path(path).suffix.lower() in ("", IMAGE_FILE_SUFFIX)


def output_kind(path: str | os.PathLike[str]) -> OutputKind:
    """The kind of an output given by name alone: images (a folder of PNGs, or one PNG), else a video file.

    >>> output_kind("frames").value, output_kind("still.png").value, output_kind("a.mp4").value
    ('images', 'images', 'video')
    """
    return OutputKind.IMAGES if writes_images(path) else OutputKind.VIDEO
