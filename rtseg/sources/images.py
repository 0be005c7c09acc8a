"""A folder of still images (``*.jpg``, ``*.png``) read in sorted order as a video; one image as one frame."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2

from rtseg.errors import SourceError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SourceStage

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def is_still_image(path: Path) -> bool:
    """A still image rtseg reads as a one-frame input (by its name; its content is checked on reading)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


class ImageFolderSource(SourceStage):
    """Frames from a folder such as DAVIS ``JPEGImages/``; each frame's ``name`` is its file stem.

    All images must have the size of the first one (a video has one frame size).
    """

    name = "source"

    def __init__(self, folder: str | os.PathLike[str], *, fps: float = 30.0) -> None:
        self.folder = Path(folder)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.time_base = 1 / self.fps
        self.files: list[Path] = []
        self._index = 0
        self.width = 0
        self.height = 0
        self.has_audio = False

    @property
    def declared_frames(self) -> int:
        return len(self.files)

    def open(self) -> StreamInfo:
        if not self.folder.exists():
            raise SourceError(f"input not found: {self.folder}")
        if is_still_image(self.folder):
            self.files = [self.folder]  # one photo: a one-frame video
        elif not self.folder.is_dir():
            raise SourceError(f"expected an image folder, got a file: {self.folder}")
        else:
            self.files = list_images(self.folder)
        if not self.files:
            raise SourceError(f"no images (*.jpg, *.png) in {self.folder}")
        first = self._load(self.files[0])
        self.height, self.width = first.shape[:2]
        self._index = 0
        return StreamInfo(self.width, self.height, self.fps, self.time_base, len(self.files),
                          label=str(self.folder))

    def _load(self, path: Path):  # type: ignore[no-untyped-def]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SourceError(f"cannot read image {path} (not an image or corrupt)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self) -> Frame | None:
        if self._index >= len(self.files):
            return None
        path = self.files[self._index]
        image = self._load(path)
        if image.shape[:2] != (self.height, self.width):
            # Real datasets have the odd off-by-one frame (Cutie's judo 00005 is 853x480).
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        frame = Frame(image, index=self._index, pts=self._index, time_base=self.time_base, name=path.stem)
        self._index += 1
        return frame
