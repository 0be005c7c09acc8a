"""The masks of a studio session as a segmenter, so an export is a normal job with the CLI's sinks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.segment.sam2.segmenter import to_mask_result

if TYPE_CHECKING:
    from rtseg.segment.sam2.interactive import InteractiveSession


class StoredMasks:
    """Each frame's result is what the interactive session already holds for it (propagated before)."""

    name = "sam2"

    def __init__(self, session: InteractiveSession) -> None:
        self.session = session

    def open(self, info: StreamInfo | None = None) -> None: ...

    def segment(self, frame: Frame) -> MaskResult | None:
        return to_mask_result(self.session.frame_masks(frame.index))

    def reset(self) -> None: ...

    def close(self) -> None: ...
