"""One open video in the studio: its frames, its model, the user's clicks, long work in a thread.

With a SAM 2 export, the registry opens an interactive session
(:func:`~rtseg.segment.registry.create_interactive`), and its clicks and boxes go through a
:class:`~rtseg.studio.prompting.PromptEditor`: each is read into a :class:`~rtseg.segment.prompts.Prompt`,
whose checks give the page its message, and its mask comes back at once. Propagation and exports run
one at a time in a thread (:mod:`rtseg.studio.tasks`) that reports to the session's
:class:`~rtseg.studio.events.EventLog`; propagation stops between frames when cancelled. An export is the
CLI's own job (:mod:`rtseg.studio.export`), with the session's masks as the model and the clicks recorded
as its prompts. Without SAM 2, the page shows what the selfie export writes (:mod:`rtseg.studio.preview`:
the export's own segmenter and mask path, over the frames in order). :mod:`rtseg.studio.render` draws
the frames and overlays.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtseg.errors import ConfigError
from rtseg.frame import Frame
from rtseg.imaging import upsample_alpha
from rtseg.jobs.segmenters import production_segmenter
from rtseg.jobs.spec import JobSpec
from rtseg.segment.prompts import Prompt
from rtseg.segment.registry import ModelOptions, create_interactive
from rtseg.studio import render
from rtseg.studio.events import EventLog
from rtseg.studio.export import NOTHING_TO_EXPORT, check_request, export_pipeline, export_spec
from rtseg.studio.media import FrameStore
from rtseg.studio.preview import SelfiePreview
from rtseg.studio.prompting import PromptEditor
from rtseg.studio.tasks import TaskRunner

if TYPE_CHECKING:
    from rtseg.segment.sam2.interactive import InteractiveSession

STUDIO_FEATURE_BUDGET = 2 * 1024**3
"""Image features cached per open video (512 frames at 512 px; 128 at 1024)."""


class StudioSession:
    """A video (or image folder) open in the studio, with SAM 2 (``model_dir``) or the selfie model."""

    def __init__(self, path: str, model_dir: Path | None, *, threads: int | None = None) -> None:
        """Open ``path`` (already checked against the studio's read roots, see :mod:`rtseg.studio.files`)."""
        if not path or not path.strip():
            raise ConfigError("give a video file or an image folder")
        if not Path(path).exists():
            raise ConfigError(f"not found: {path}")
        self.id = uuid.uuid4().hex[:12]
        self.path = path
        self.model_dir = model_dir
        self.frames = FrameStore(path)
        self.events = EventLog()
        self.tasks = TaskRunner(self.events)
        self.propagated: set[int] = set()
        self.last_used = time.monotonic()
        self.interactive: InteractiveSession | None = None
        self.editor: PromptEditor | None = None
        self.preview: SelfiePreview | None = None
        try:
            if model_dir is not None:
                self.interactive = create_interactive(
                    "sam2", ModelOptions(model_dir=str(model_dir), threads=threads), self.frames.get,
                    len(self.frames), feature_budget_bytes=STUDIO_FEATURE_BUDGET, corrections_as_conditioning=True)
                self.editor = PromptEditor(self.interactive)
            else:
                # The masks export's own segmenter: its spec's model and mask path (nothing is written to "preview")
                self.preview = SelfiePreview(production_segmenter(self.export_spec("masks", "preview")), self.frames)
        except BaseException:
            self.frames.close()
            raise

    # -- what the page shows ---------------------------------------------------------------------

    @property
    def model(self) -> str:
        return "sam2" if self.interactive is not None else "selfie"

    @property
    def prompts(self) -> list[Prompt]:
        """Every click and box still in effect, in order (none without SAM 2)."""
        return self.editor.prompts if self.editor is not None else []

    def info(self) -> dict[str, Any]:
        return {"session": self.id, "path": self.path, "frames": len(self.frames), "width": self.frames.width,
                "height": self.frames.height, "fps": float(self.frames.info.fps), "model": self.model,
                "objects": self.objects(), "busy": self.tasks.current, "propagated": len(self.propagated),
                "clicks": [{"frame": p.frame, "object": p.obj_id, "points": p.points, "labels": p.labels,
                            "box": p.box} for p in self.prompts]}

    def objects(self) -> list[int]:
        return self.interactive.obj_ids if self.interactive is not None else [1]

    def check_frame(self, index: int) -> None:
        if not 0 <= index < len(self.frames):
            raise ConfigError(f"frame {index} is outside the video (frames 0..{len(self.frames) - 1})")

    def frame_jpeg(self, index: int, width: int | None = None) -> bytes:
        """Frame ``index`` as JPEG, scaled down to ``width`` pixels if it is wider."""
        return render.frame_jpeg(self.frames, index, width)

    def object_ids(self, index: int) -> np.ndarray | None:
        """(H, W) object ids on ``index`` (selfie: 1 where the mask the export writes is at least half
        opaque, 128..255), or None when nothing is known yet."""
        if self.interactive is None:
            assert self.preview is not None
            alpha = self.preview.alpha(index)
            if alpha.shape != (self.frames.height, self.frames.width):
                alpha = upsample_alpha(alpha, self.frames.width, self.frames.height)
            return (alpha >= 128).astype(np.uint8)
        if not self.interactive.has_result(index):
            return None
        return self.interactive.frame_masks(index).id_map()

    def overlay_png(self, index: int) -> bytes:
        """The masks on ``index`` as a transparent RGBA PNG (each object its DAVIS colour, 55 % opaque)."""
        self.check_frame(index)
        return render.overlay_png(self.object_ids(index), self.frames.height, self.frames.width)

    # -- clicks ----------------------------------------------------------------------------------

    def prompting(self) -> PromptEditor:
        """The session's prompt actions (click, box, undo, clear): refused without SAM 2 or while busy."""
        if self.editor is None:
            raise ConfigError("clicks need SAM 2: start the studio with --model-dir DIR (an `rtseg export-sam2` "
                              "folder); the selfie model finds people without clicks")
        self.tasks.check_idle()
        return self.editor

    # -- long work -----------------------------------------------------------------------------------

    def propagate(self, start: int | None = None) -> None:
        """Track every object from ``start`` (default: the first clicked frame) to the end, in a thread."""
        session = self.prompting().session
        total = len(self.frames)
        if start is not None:
            self.check_frame(start)  # now, as a 400, not later as an error event
        cancel = self.tasks.cancel

        def work() -> None:
            done = 0
            first = None
            for r in session.propagate(start, cancel=cancel):
                first = r.frame_idx if first is None else first
                self.propagated.add(r.frame_idx)
                done += 1
                self.events.put(type="progress", task="propagate", frame=r.frame_idx, done=done,
                                total=total - (first or 0))
            if cancel.is_set():
                self.events.put(type="cancelled", task="propagate", done=done)
            else:
                self.events.put(type="done", task="propagate", done=done)

        self.tasks.start("propagate", work)

    def export(self, kind: str, out: str) -> None:
        """Write what the CLI writes (mask PNGs, COCO RLE JSON, an effect video), atomically, in a thread.

        ``out`` is trusted here: the app has already checked it against the export folder
        (:meth:`rtseg.studio.files.FileRules.export_target`)."""
        check_request(kind, out)
        total = len(self.frames)
        if self.interactive is not None:
            if not self.prompts:
                raise ConfigError(NOTHING_TO_EXPORT)
            if len(self.propagated) < total:
                raise ConfigError(f"propagate first: {len(self.propagated)} of {total} frames have masks")
        spec = self.export_spec(kind, out)

        def on_output(frame: Frame, stats: Any) -> None:
            self.events.put(type="progress", task="export", done=frame.index + 1, total=total)

        pipeline = export_pipeline(spec, self.interactive, on_output)

        def work() -> None:
            stats = pipeline.run()
            self.events.put(type="done", task="export", done=stats.frames_out, path=out)

        self.tasks.start("export", work)

    def export_spec(self, kind: str, out: str) -> JobSpec:
        """The job an export of this video to ``out`` runs (SAM 2: with the clicks as its prompts)."""
        return export_spec(kind, out, self.path, self.model_dir if self.interactive is not None else None,
                           self.prompts)

    def stop(self) -> None:
        """Cancel running work and wait for it (propagation stops between frames)."""
        self.tasks.stop()

    def close(self) -> None:
        self.stop()
        if self.interactive is not None:
            self.interactive.close()
            self.interactive.model.close()
        if self.preview is not None:
            self.preview.close()
        self.frames.close()
