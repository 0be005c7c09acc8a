"""One open video in the studio: its frames, its model, the user's clicks, long work in a thread.

With a SAM 2 export, the registry opens an interactive session
(:func:`~rtseg.segment.registry.create_interactive`); each click or box is read into a
:class:`~rtseg.segment.prompts.Prompt`, whose checks give the page its message, and its mask comes
back at once. Propagation runs in a worker thread that reports progress as events and stops between
frames when cancelled, and exports run the normal builder with the session's masks as the model
(:class:`StoredMasks`) and the clicks recorded as the job's prompts, so they are written by the CLI's
sinks, atomically. Without one, the page shows what the selfie export writes (:mod:`rtseg.studio.preview`:
the export's own segmenter and mask path, over the frames in order) and exports are the CLI's own jobs.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from rtseg.errors import ConfigError, RtsegError
from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.imaging import upsample_alpha
from rtseg.jobs.build import Devices, build
from rtseg.jobs.segmenters import production_segmenter
from rtseg.jobs.spec import JobSpec
from rtseg.segment.prompts import Prompt, prompt_to_dict
from rtseg.segment.registry import ModelOptions, create_interactive
from rtseg.segment.sam2.segmenter import to_mask_result
from rtseg.sinks.images import davis_palette
from rtseg.studio.media import FrameStore
from rtseg.studio.preview import SelfiePreview

if TYPE_CHECKING:
    from rtseg.segment.sam2.interactive import InteractiveSession

STUDIO_FEATURE_BUDGET = 2 * 1024**3
"""Image features cached per open video (512 frames at 512 px; 128 at 1024)."""
EXPORT_KINDS = ("masks", "rle", "blur-background", "blur-object", "cutout", "overlay")
PALETTE = np.array(davis_palette(), np.uint8).reshape(256, 3)
NOTHING_TO_EXPORT = "nothing to export: click an object first"


class Events:
    """Progress and results of long work, for the page (Server-Sent Events); thread-safe."""

    def __init__(self, keep: int = 1000) -> None:
        self._items: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=keep)
        self._n = 0
        self._lock = threading.Lock()

    def put(self, **event: Any) -> None:
        with self._lock:
            self._n += 1
            self._items.append((self._n, event))

    def since(self, n: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            return [(i, e) for i, e in self._items if i > n]


class StoredMasks:
    """The session's masks as a segmenter, so an export is a normal job with normal sinks."""

    name = "sam2"

    def __init__(self, session: InteractiveSession) -> None:
        self.session = session

    def open(self, info: StreamInfo | None = None) -> None: ...

    def segment(self, frame: Frame) -> MaskResult | None:
        return to_mask_result(self.session.frame_masks(frame.index))

    def reset(self) -> None: ...

    def close(self) -> None: ...


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
        self.events = Events()
        self.prompts: list[Prompt] = []
        """Every click and box still in effect, in order (a box replaces the object's earlier prompts on
        its frame; undo takes the object's last one back)."""
        self.cancel = threading.Event()
        self.worker: threading.Thread | None = None
        self.task: str | None = None
        self._task_lock = threading.Lock()
        self.propagated: set[int] = set()
        self.last_used = time.monotonic()
        self.interactive: InteractiveSession | None = None
        self.preview: SelfiePreview | None = None
        try:
            if model_dir is not None:
                self.interactive = create_interactive(
                    "sam2", ModelOptions(model_dir=str(model_dir), threads=threads), self.frames.get,
                    len(self.frames), feature_budget_bytes=STUDIO_FEATURE_BUDGET, corrections_as_conditioning=True)
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

    def info(self) -> dict[str, Any]:
        return {"session": self.id, "path": self.path, "frames": len(self.frames), "width": self.frames.width,
                "height": self.frames.height, "fps": float(self.frames.info.fps), "model": self.model,
                "objects": self.objects(), "busy": self.task, "propagated": len(self.propagated),
                "clicks": [{"frame": p.frame, "object": p.obj_id, "points": p.points, "labels": p.labels,
                            "box": p.box} for p in self.prompts]}

    def objects(self) -> list[int]:
        return self.interactive.obj_ids if self.interactive is not None else [1]

    def check_frame(self, index: int) -> None:
        if not 0 <= index < len(self.frames):
            raise ConfigError(f"frame {index} is outside the video (frames 0..{len(self.frames) - 1})")

    def frame_jpeg(self, index: int, width: int | None = None) -> bytes:
        """Frame ``index`` as JPEG, scaled down to ``width`` pixels if it is wider."""
        if width is not None and width < 1:
            raise ConfigError(f"width must be at least 1 pixel, got {width}")
        rgb = self.frames.get(index)
        if width is not None and width < rgb.shape[1]:
            rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        return data.tobytes()

    def id_map(self, index: int) -> np.ndarray | None:
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
        ids = self.id_map(index)
        h, w = self.frames.height, self.frames.width
        rgba = np.zeros((h, w, 4), np.uint8)
        if ids is not None:
            rgba[..., :3] = PALETTE[ids]
            rgba[..., 3] = np.where(ids > 0, 140, 0).astype(np.uint8)
        ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        assert ok
        return data.tobytes()

    # -- clicks ----------------------------------------------------------------------------------

    def _need_sam2(self) -> InteractiveSession:
        if self.interactive is None:
            raise ConfigError("clicks need SAM 2: start the studio with --model-dir DIR (an `rtseg export-sam2` "
                              "folder); the selfie model finds people without clicks")
        if self.task is not None:
            raise ConfigError(f"busy ({self.task}): cancel it or wait")
        return self.interactive

    def _on(self, frame: int, obj: int) -> list[Prompt]:
        return [p for p in self.prompts if p.frame == frame and p.obj_id == obj]

    def _apply(self, session: InteractiveSession, prompt: Prompt) -> dict[str, Any]:
        """The prompt's mask at once (the session checks the frame index and that it lies on the frame)."""
        t0 = time.perf_counter()
        session.add_prompt(prompt)
        ms = 1000 * (time.perf_counter() - t0)
        return {"frame": prompt.frame, "object": prompt.obj_id, "ms": round(ms, 1), "objects": self.objects()}

    def click(self, frame: int, obj: int, x: float, y: float, label: int) -> dict[str, Any]:
        """One click (label 1 include, 0 exclude), added to the object's earlier clicks on that frame: the
        object's mask there, at once (with how long it took)."""
        session = self._need_sam2()
        prompt = Prompt(frame, obj, points=((x, y),), labels=(label,), add=bool(self._on(frame, obj)))
        answer = self._apply(session, prompt)
        self.prompts.append(prompt)
        return answer

    def box(self, frame: int, obj: int, box: tuple[float, float, float, float]) -> dict[str, Any]:
        """A box for the object on that frame, in place of its earlier clicks there."""
        session = self._need_sam2()
        prompt = Prompt(frame, obj, box=box)
        answer = self._apply(session, prompt)
        self.prompts = [p for p in self.prompts if not (p.frame == frame and p.obj_id == obj)]
        self.prompts.append(prompt)
        return answer

    def undo(self, obj: int) -> dict[str, Any]:
        """Take back the object's last click: its frame's prompts are replayed without it."""
        session = self._need_sam2()
        mine = [i for i, p in enumerate(self.prompts) if p.obj_id == obj]
        if not mine:
            raise ConfigError(f"object {obj} has no click to undo")
        last = self.prompts.pop(mine[-1])
        session.clear_prompts(last.frame, obj)
        for prompt in self._on(last.frame, obj):  # the first replaces, the rest add (as when clicked)
            session.add_prompt(prompt)
        if not any(p.obj_id == obj for p in self.prompts):
            session.remove_object(obj)
        return {"frame": last.frame, "object": obj, "objects": self.objects()}

    def clear_object(self, obj: int) -> dict[str, Any]:
        session = self._need_sam2()
        session.remove_object(obj)
        self.prompts = [p for p in self.prompts if p.obj_id != obj]
        return {"objects": self.objects()}

    # -- long work -----------------------------------------------------------------------------------

    def _start(self, name: str, work: Any) -> None:
        with self._task_lock:  # one long task at a time, whichever request thread asks
            if self.task is not None:
                raise ConfigError(f"busy ({self.task}): cancel it or wait")
            self.task = name
        self.cancel.clear()

        def run() -> None:
            try:
                work()
            except RtsegError as exc:
                self.events.put(type="error", task=name, message=str(exc))
            except Exception as exc:  # shown on the page; the server goes on
                self.events.put(type="error", task=name, message=f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.task = None

        self.worker = threading.Thread(target=run, name=f"studio-{name}", daemon=True)
        self.worker.start()

    def propagate(self, start: int | None = None) -> None:
        """Track every object from ``start`` (default: the first clicked frame) to the end, in a thread."""
        session = self._need_sam2()
        total = len(self.frames)
        if start is not None:
            self.check_frame(start)  # now, as a 400, not later as an error event

        def work() -> None:
            done = 0
            first = None
            for r in session.propagate(start, cancel=self.cancel):
                first = r.frame_idx if first is None else first
                self.propagated.add(r.frame_idx)
                done += 1
                self.events.put(type="progress", task="propagate", frame=r.frame_idx, done=done,
                                total=total - (first or 0))
            if self.cancel.is_set():
                self.events.put(type="cancelled", task="propagate", done=done)
            else:
                self.events.put(type="done", task="propagate", done=done)

        self._start("propagate", work)

    def export(self, kind: str, out: str) -> None:
        """Write what the CLI writes (mask PNGs, COCO RLE JSON, an effect video), atomically, in a thread.

        ``out`` is trusted here: the app has already checked it against the export folder
        (:meth:`rtseg.studio.files.FileRules.export_target`)."""
        if kind not in EXPORT_KINDS:
            raise ConfigError(f"export kind must be one of {', '.join(EXPORT_KINDS)}, got {kind!r}")
        if not out or not out.strip():
            raise ConfigError("give an output path")
        total = len(self.frames)
        if self.interactive is not None:
            if not self.prompts:
                raise ConfigError(NOTHING_TO_EXPORT)
            if len(self.propagated) < total:
                raise ConfigError(f"propagate first: {len(self.propagated)} of {total} frames have masks")
        spec = self.export_spec(kind, out)
        devices = Devices(segmenter=StoredMasks(self.interactive)) if self.interactive is not None else None

        def on_output(frame: Frame, stats: Any) -> None:
            self.events.put(type="progress", task="export", done=frame.index + 1, total=total)

        pipeline = build(spec, devices=devices, on_output=on_output)

        def work() -> None:
            stats = pipeline.run()
            self.events.put(type="done", task="export", done=stats.frames_out, path=out)

        self._start("export", work)

    def export_spec(self, kind: str, out: str) -> JobSpec:
        """The job an export runs (SAM 2: the clicks are recorded as its prompts, one per click or box in
        the order given; with none there is nothing to export)."""
        outputs: list[dict[str, Any]]
        command = "segment"
        effect: dict[str, Any] = {}
        if kind == "masks":
            outputs = [{"kind": "masks", "path": out}]
        elif kind == "rle":
            outputs = [{"kind": "rle", "path": out}]
            command = "track"
            effect = {"kind": "none"}
        else:
            outputs = [{"kind": "video", "path": out}]
            command = {"blur-background": "blur", "blur-object": "blur", "cutout": "cutout",
                       "overlay": "overlay"}[kind]
            effect = {"invert": True} if kind == "blur-object" else {}
        model: dict[str, Any] = {"name": "selfie"}
        if self.interactive is not None:
            prompts = [prompt_to_dict(p) for p in self.prompts]
            if not prompts:
                raise ConfigError(NOTHING_TO_EXPORT)
            model = {"name": "sam2", "dir": str(self.model_dir), "prompts": prompts}
        elif kind == "rle":
            raise ConfigError("COCO RLE export is per object: it needs SAM 2 (--model-dir)")
        data = {"command": command, "source": {"path": self.path}, "outputs": outputs, "effect": effect,
                "model": model, "run": {"progress": False}}
        return JobSpec.from_dict(data, "studio export").check()

    def stop(self) -> None:
        """Cancel running work and wait for it (propagation stops between frames)."""
        self.cancel.set()
        worker = self.worker
        if worker is not None and worker.is_alive():
            worker.join(timeout=30)

    def close(self) -> None:
        self.stop()
        if self.interactive is not None:
            self.interactive.close()
            self.interactive.model.close()
        if self.preview is not None:
            self.preview.close()
        self.frames.close()
